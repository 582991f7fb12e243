"""Bidirectional Transformer blocks conditioned by adaptive norms (adaLN-Zero, as in DiT).

Notation: B batch, P units, D model width.

A condition vector c (B, D), such as a landscape or a diffusion timestep embedding, sets
per-channel shifts, scales and gates of each block: x + gate * f(norm(x) * (1 + scale) + shift).
The layer that maps c to them starts at zero, so every block starts as the identity.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.nn.attention import Attention, full_attention
from ebtlab.nn.norm import RMSNorm
from ebtlab.nn.positions import sincos_positions
from ebtlab.nn.swiglu import SwiGLU


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    # x: (B, P, D), shift and scale: (B, D)
    return x * (1 + scale[:, None]) + shift[:, None]


class AdaLNBlock(nn.Module):
    """Attention and SwiGLU sub-layers, each with its norm modulated and its output gated by c."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attention_norm = RMSNorm(width, gain=False)
        self.attention = Attention(width, heads)
        self.feed_forward_norm = RMSNorm(width, gain=False)
        self.feed_forward = SwiGLU(width)
        self.modulation = nn.Linear(width, 6 * width)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        # x: (B, P, D), condition: (B, D)
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = self.modulation(F.silu(condition)).chunk(6, dim=-1)  # (B, D) each
        x = x + gate_a[:, None] * self.attention(modulate(self.attention_norm(x), shift_a, scale_a), None, None, full_attention)
        return x + gate_f[:, None] * self.feed_forward(modulate(self.feed_forward_norm(x), shift_f, scale_f))


class AdaLNTransformer(nn.Module):
    """Bidirectional adaLN blocks over a grid of units with fixed sine-cosine positions, and a modulated final norm."""

    def __init__(self, *, layers: int, width: int, heads: int, grid: tuple[int, ...]):
        super().__init__()
        self.register_buffer("positions", sincos_positions(grid, width), persistent=False)  # (P, D)
        self.blocks = nn.ModuleList(AdaLNBlock(width, heads) for _ in range(layers))
        self.final_norm = RMSNorm(width, gain=False)
        self.final_modulation = nn.Linear(width, 2 * width)

    def zero_initialize(self) -> None:
        """Zero every modulation layer, so each block starts as the identity and the final norm unscaled."""
        for layer in [block.modulation for block in self.blocks] + [self.final_modulation]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        # x: (B, P, D) embedded units, condition: (B, D)
        if x.shape[1] != self.positions.shape[0]:
            raise ValueError(f"expected {self.positions.shape[0]} units per sequence, got {x.shape[1]}")
        x = x + self.positions
        for block in self.blocks:
            x = block(x, condition)
        shift, scale = self.final_modulation(F.silu(condition)).chunk(2, dim=-1)  # (B, D) each
        return modulate(self.final_norm(x), shift, scale)  # (B, P, D)
