"""The autoregressive energy transformer: one energy per next-unit candidate.

Notation: B batch, S units in the context, D model width, H heads, hd head width, and
P = S + 1 prefix tokens (the landscape token followed by the S observed units).

The model reads one sequence of P + S tokens, [landscape, observed 0..S-1, candidate 0..S-1],
where candidate i proposes unit i + 1:
- the landscape token attends to itself only;
- observed unit j attends to the landscape token and observed units 0..j (causal);
- candidate i attends to the landscape token, observed units 0..i, and itself, nothing else.
Rotary positions: landscape 0, observed unit j at j + 1, candidate i at i + 2 (the slot of the
unit it predicts, shifted by the landscape token). Energy i therefore depends only on the
observed units 0..i and candidate i, so all S predictions descend in parallel and the gradient
of the summed energy is the per-position gradient.
"""

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.nn import LandscapeEmbedding, RMSNorm, RotaryEmbedding, TransformerBlock
from ebtlab.nn.attention import AttentionPattern, masked_attention

AttentionMode = Literal["two_part", "masked"]


def observed_candidate_mask(context: int, device: torch.device | None = None) -> torch.Tensor:
    """Build the boolean (P + S, P + S) mask of the full sequence; True means "may attend"."""
    prefix = context + 1
    rows = torch.arange(prefix + context, device=device)[:, None]
    cols = torch.arange(prefix + context, device=device)[None, :]
    prefix_causal = (rows < prefix) & (cols <= rows)
    candidate_rows = rows >= prefix
    candidate_sees_prefix = candidate_rows & (cols < prefix) & (cols <= rows - prefix + 1)
    candidate_sees_itself = candidate_rows & (cols == rows)
    return prefix_causal | candidate_sees_prefix | candidate_sees_itself


def two_part_attention(prefix: int) -> AttentionPattern:
    """Return the pattern of `observed_candidate_mask` computed from its two live parts only.

    Part one is causal attention over the P prefix tokens. Part two scores each candidate
    against the P prefix keys (those after its slot masked out) plus its own key, so about
    2 S^2 scores are computed instead of the (2S)^2 of the single masked call. The masked
    upper triangle of part two is still computed; it is S^2 / 2 of work.
    """

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # q, k, v: (B, H, P + S, hd)
        q_prefix, q_candidate = q[:, :, :prefix], q[:, :, prefix:]  # (B, H, P, hd), (B, H, S, hd)
        k_prefix, k_candidate = k[:, :, :prefix], k[:, :, prefix:]
        v_prefix, v_candidate = v[:, :, :prefix], v[:, :, prefix:]
        prefix_mixed = F.scaled_dot_product_attention(q_prefix, k_prefix, v_prefix, is_causal=True)  # (B, H, P, hd)

        context = q_candidate.shape[2]
        scale = q.shape[-1] ** -0.5
        prefix_scores = q_candidate @ k_prefix.transpose(-2, -1) * scale  # (B, H, S, P)
        visible = torch.arange(prefix, device=q.device)[None, :] <= torch.arange(context, device=q.device)[:, None] + 1
        prefix_scores = prefix_scores.masked_fill(~visible, float("-inf"))
        self_scores = (q_candidate * k_candidate).sum(dim=-1, keepdim=True) * scale  # (B, H, S, 1)
        weights = torch.softmax(torch.cat((prefix_scores, self_scores), dim=-1), dim=-1)  # (B, H, S, P + 1)
        candidate_mixed = weights[..., :prefix] @ v_prefix + weights[..., prefix:] * v_candidate  # (B, H, S, hd)
        return torch.cat((prefix_mixed, candidate_mixed), dim=2)  # (B, H, P + S, hd)

    return attend


class AutoregressiveEnergyTransformer(nn.Module):
    """Energy E(x_<=i, y_i) for every next-unit candidate y_i of a sequence."""

    def __init__(
        self,
        *,
        layers: int,
        width: int,
        heads: int,
        max_context: int,
        landscapes: int,
        attention: AttentionMode = "two_part",
    ):
        super().__init__()
        self.max_context = max_context
        self.attention = attention
        self.landscape = LandscapeEmbedding(landscapes, width)
        # The last candidate sits at position max_context + 1.
        self.rotary = RotaryEmbedding(width // heads, max_positions=max_context + 2)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads) for _ in range(layers))
        self.energy_norm = RMSNorm(width)
        self.energy_head = nn.Linear(width, 1, bias=False)

    def forward(self, observed: torch.Tensor, candidate: torch.Tensor, landscape: int) -> torch.Tensor:
        # observed: (B, S, D) embedded units, candidate: (B, S, D) embedded candidates
        B, S, D = observed.shape
        if candidate.shape != observed.shape:
            raise ValueError(f"candidate embeddings {tuple(candidate.shape)} do not match observed {tuple(observed.shape)}")
        if S > self.max_context:
            raise ValueError(f"context of {S} units exceeds the model's max_context of {self.max_context}")

        prefix = S + 1
        x = torch.cat((self.landscape(landscape, B), observed, candidate), dim=1)  # (B, P + S, D)
        positions = torch.cat(
            (torch.arange(prefix, device=x.device), torch.arange(S, device=x.device) + 2)
        )  # (P + S,)
        if self.attention == "two_part":
            pattern = two_part_attention(prefix)
        else:
            pattern = masked_attention(observed_candidate_mask(S, device=x.device))

        for block in self.blocks:
            x = block(x, self.rotary, positions, pattern)
        return self.energy_head(self.energy_norm(x[:, prefix:])).squeeze(-1)  # (B, S)
