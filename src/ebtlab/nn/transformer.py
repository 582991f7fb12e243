import torch
from torch import nn

from ebtlab.nn.attention import Attention, AttentionPattern
from ebtlab.nn.norm import RMSNorm
from ebtlab.nn.rotary import RotaryEmbedding
from ebtlab.nn.swiglu import SwiGLU


class TransformerBlock(nn.Module):
    """Pre-norm Llama-style block: x + attention(norm(x)), then x + SwiGLU(norm(x))."""

    def __init__(self, width: int, heads: int, hidden_width: int | None = None):
        super().__init__()
        self.attention_norm = RMSNorm(width)
        self.attention = Attention(width, heads)
        self.feed_forward_norm = RMSNorm(width)
        self.feed_forward = SwiGLU(width, hidden_width)

    def forward(
        self,
        x: torch.Tensor,
        rotary: RotaryEmbedding,
        positions: torch.Tensor,
        pattern: AttentionPattern,
    ) -> torch.Tensor:
        # x: (B, L, D), positions: (L,)
        x = x + self.attention(self.attention_norm(x), rotary, positions, pattern)
        return x + self.feed_forward(self.feed_forward_norm(x))
