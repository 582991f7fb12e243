import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer) with the half-split layout used by Llama.

    Positions are passed explicitly, so a sequence may place two tokens at one position
    (the energy transformer does this for observed units and candidates).
    """

    def __init__(self, head_width: int, max_positions: int, base: float = 10_000.0):
        super().__init__()
        if head_width % 2:
            raise ValueError(f"rotary embedding needs an even head width, got {head_width}")
        inverse_frequency = base ** (-torch.arange(0, head_width, 2, dtype=torch.float64) / head_width)
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float64), inverse_frequency)
        self.max_positions = max_positions
        self.register_buffer("cos", angles.cos().float(), persistent=False)  # (P, hd/2)
        self.register_buffer("sin", angles.sin().float(), persistent=False)  # (P, hd/2)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        # x: (B, H, L, hd), positions: (L,) integers below max_positions. Callers check the
        # sequence length instead of the positions, which would synchronise the device.
        cos = self.cos[positions].to(x.dtype)  # (L, hd/2)
        sin = self.sin[positions].to(x.dtype)  # (L, hd/2)
        first, second = x.chunk(2, dim=-1)  # (B, H, L, hd/2) each
        return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
