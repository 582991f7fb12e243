"""Multi-head attention whose score pattern is chosen by the caller.

Notation: B batch, H heads, L sequence length, hd head width, D model width.
"""

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ebtlab.nn.rotary import RotaryEmbedding

# An attention pattern maps rotated (q, k, v), each (B, H, L, hd), to the mixed values (B, H, L, hd).
AttentionPattern = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Ordinary causal self-attention: position i attends to positions 0..i."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def full_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bidirectional self-attention: every position attends to every position."""
    return F.scaled_dot_product_attention(q, k, v)


def masked_attention(mask: torch.Tensor) -> AttentionPattern:
    """Return a pattern that attends where the boolean (L, L) `mask` is True, in one SDPA call."""

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    return attend


@contextmanager
def second_order_attention():
    """Run `scaled_dot_product_attention` on its math backend inside this block.

    Only the math backend records a graph that can be differentiated twice. The fused CPU
    and GPU kernels raise "derivative for ..._backward is not implemented" when a gradient
    taken with `create_graph=True` is differentiated again. The backend is chosen when the
    forward runs, so the block must enclose the forward pass, not the backward.
    """
    with sdpa_kernel(SDPBackend.MATH):
        yield


class Attention(nn.Module):
    """Bias-free multi-head attention, with rotary positions on queries and keys where given."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)

    def project(
        self, x: torch.Tensor, rotary: RotaryEmbedding | None, positions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the queries, keys and values of `x`, each (B, H, L, hd).

        Queries and keys are rotated to `positions` unless `rotary` is None, for models that add
        fixed positions to their inputs instead.
        """
        # x: (B, L, D), positions: (L,)
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, L, hd) each
        if rotary is None:
            return q, k, v
        return rotary(q, positions), rotary(k, positions), v

    def forward(
        self,
        x: torch.Tensor,
        rotary: RotaryEmbedding | None,
        positions: torch.Tensor | None,
        pattern: AttentionPattern,
    ) -> torch.Tensor:
        # x: (B, L, D), positions: (L,)
        B, L, D = x.shape
        mixed = pattern(*self.project(x, rotary, positions))  # (B, H, L, hd)
        return self.out(mixed.transpose(1, 2).reshape(B, L, D))  # (B, L, D)
