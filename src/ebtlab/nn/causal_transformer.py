"""The Transformer++ stack: Llama-style blocks under an ordinary causal mask, with a KV cache.

Notation: B batch, S units in this call, T units already cached, D model width, H heads,
hd head width.
"""

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.nn.attention import AttentionPattern, causal_attention
from ebtlab.nn.norm import RMSNorm
from ebtlab.nn.rotary import RotaryEmbedding
from ebtlab.nn.transformer import TransformerBlock


@dataclass
class KeysValuesCache:
    """Rotated keys and values of every unit seen so far, one (B, H, T, hd) pair per layer."""

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Units cached so far (T)."""
        return self.keys[0].shape[2] if self.keys else 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add new keys and values (B, H, S, hd) to `layer`; return all of that layer's (B, H, T + S, hd)."""
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]

    def attention(self, layer: int) -> AttentionPattern:
        """Return causal attention for `layer` that appends the new keys and values first.

        New unit s (at position T + s) attends to the T cached units and new units 0..s.
        """

        def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            # q, k, v: (B, H, S, hd) of the new units
            keys, values = self.append(layer, k, v)
            new, total = q.shape[2], keys.shape[2]
            if new == total:
                return F.scaled_dot_product_attention(q, keys, values, is_causal=True)
            if new == 1:
                return F.scaled_dot_product_attention(q, keys, values)
            visible = torch.arange(total, device=q.device)[None, :] <= torch.arange(new, device=q.device)[:, None] + total - new
            return F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)

        return attend


class CausalTransformer(nn.Module):
    """Hidden states (B, S, D) of embedded units, each unit seeing itself and the units before it."""

    def __init__(self, *, layers: int, width: int, heads: int, max_context: int):
        super().__init__()
        self.max_context = max_context
        self.rotary = RotaryEmbedding(width // heads, max_positions=max_context)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads) for _ in range(layers))
        self.norm = RMSNorm(width)

    def forward(self, x: torch.Tensor, cache: KeysValuesCache | None = None) -> torch.Tensor:
        """Run the stack over `x`, continuing the sequence held in `cache` if one is given.

        Unit j of the whole sequence sits at rotary position j. The cache, when given, is
        extended in place with the keys and values of `x`.
        """
        # x: (B, S, D) embedded units
        S = x.shape[1]
        start = 0 if cache is None else cache.length
        if start + S > self.max_context:
            raise ValueError(f"a sequence of {start + S} units exceeds the model's max_context of {self.max_context}")
        positions = torch.arange(start, start + S, device=x.device)  # (S,)
        for layer, block in enumerate(self.blocks):
            pattern = causal_attention if cache is None else cache.attention(layer)
            x = block(x, self.rotary, positions, pattern)
        return self.norm(x)  # (B, S, D)
