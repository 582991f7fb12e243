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

Two implementations give the same energies:
- "two_part" (the default) runs the prefix and the candidates as separate streams through the
  same blocks. The prefix stream is ordinary causal attention. Each candidate scores the
  prefix keys up to its slot plus its own key, so about 2 S^2 scores are computed instead of
  (2S)^2. Because the prefix stream never depends on the candidates, dE/dp and its second-order
  graph cover only the candidate stream, and one prefix pass serves every descent step that
  uses the same landscape.
- "masked" is the reference: one boolean mask and one attention call over all P + S tokens.
"""

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.nn import KeysValuesCache, LandscapeEmbedding, RMSNorm, RotaryEmbedding, TransformerBlock
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


def candidate_attention(prefix_keys: torch.Tensor, prefix_values: torch.Tensor) -> AttentionPattern:
    """Return the candidate stream's attention: prefix keys up to each candidate's slot, plus itself.

    The S candidates predict the units after the last S observed units of a prefix of P tokens,
    so candidate i sits at slot j = P - 1 - S + i and attends prefix tokens 0..j + 1 (the
    landscape token and observed units 0..j). With S = P - 1 that is every observed unit's
    candidate. The masked part of the (S, P) score matrix is still computed.
    """

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # q, k, v: (B, H, S, hd) of the candidates
        context, prefix = q.shape[2], prefix_keys.shape[2]
        first_slot = prefix - 1 - context
        scale = q.shape[-1] ** -0.5
        prefix_scores = q @ prefix_keys.transpose(-2, -1) * scale  # (B, H, S, P)
        slots = torch.arange(context, device=q.device)[:, None] + first_slot
        visible = torch.arange(prefix, device=q.device)[None, :] <= slots + 1
        prefix_scores = prefix_scores.masked_fill(~visible, float("-inf"))
        self_scores = (q * k).sum(dim=-1, keepdim=True) * scale  # (B, H, S, 1)
        weights = torch.softmax(torch.cat((prefix_scores, self_scores), dim=-1), dim=-1)  # (B, H, S, P + 1)
        return weights[..., :prefix] @ prefix_values + weights[..., prefix:] * v  # (B, H, S, hd)

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

    def _check_context(self, context: int) -> None:
        if context > self.max_context:
            raise ValueError(f"context of {context} units exceeds the model's max_context of {self.max_context}")

    def observe(self, observed: torch.Tensor, landscape: int, cache: KeysValuesCache | None = None) -> KeysValuesCache:
        """Run the prefix stream [landscape, observed units] and keep its keys and values.

        With a cache from an earlier call on the same landscape, `observed` continues that
        sequence and only the new units are computed: the cache is extended and returned.
        """
        # observed: (B, S, D) embedded units, new ones if a cache is given
        B, S, D = observed.shape
        cache = cache if cache is not None else KeysValuesCache()
        start = cache.length
        x = observed if start else torch.cat((self.landscape(landscape, B), observed), dim=1)  # (B, L, D)
        self._check_context(start + x.shape[1] - 1)
        positions = torch.arange(start, start + x.shape[1], device=x.device)  # (L,)
        for layer, block in enumerate(self.blocks[:-1]):
            x = block(x, self.rotary, positions, cache.attention(layer))
        # The last layer's prefix output is never read, only its keys and values.
        last = self.blocks[-1].attention
        _, k, v = last.project(self.blocks[-1].attention_norm(x), self.rotary, positions)
        cache.append(len(self.blocks) - 1, k, v)
        return cache

    def candidate_energies(self, prefix: KeysValuesCache, candidate: torch.Tensor) -> torch.Tensor:
        """Return the energy of each candidate given the prefix stream from `observe`.

        The S candidates predict the units after the last S observed units of the prefix.
        """
        # candidate: (B, S, D) embedded candidates
        S = candidate.shape[1]
        observed = prefix.length - 1
        if S > observed:
            raise ValueError(f"{S} candidates need at least {S} observed units, the prefix has {observed}")
        positions = torch.arange(S, device=candidate.device) + observed - S + 2  # (S,)
        x = candidate
        for block, keys, values in zip(self.blocks, prefix.keys, prefix.values):
            x = block(x, self.rotary, positions, candidate_attention(keys, values))
        return self.energy_head(self.energy_norm(x)).squeeze(-1)  # (B, S)

    def _masked_energies(self, observed: torch.Tensor, candidate: torch.Tensor, landscape: int) -> torch.Tensor:
        B, S, D = observed.shape
        self._check_context(S)
        x = torch.cat((self.landscape(landscape, B), observed, candidate), dim=1)  # (B, P + S, D)
        positions = torch.cat((torch.arange(S + 1, device=x.device), torch.arange(S, device=x.device) + 2))  # (P + S,)
        pattern = masked_attention(observed_candidate_mask(S, device=x.device))
        for block in self.blocks:
            x = block(x, self.rotary, positions, pattern)
        return self.energy_head(self.energy_norm(x[:, S + 1 :])).squeeze(-1)  # (B, S)

    def forward(self, observed: torch.Tensor, candidate: torch.Tensor, landscape: int) -> torch.Tensor:
        # observed: (B, S, D) embedded units, candidate: (B, S, D) embedded candidates
        if candidate.shape != observed.shape:
            raise ValueError(f"candidate embeddings {tuple(candidate.shape)} do not match observed {tuple(observed.shape)}")
        if self.attention == "masked":
            return self._masked_energies(observed, candidate, landscape)
        return self.candidate_energies(self.observe(observed, landscape), candidate)  # (B, S)

    def energy_function(self, observed: torch.Tensor) -> Callable[[torch.Tensor, int], torch.Tensor]:
        """Return E(candidate, landscape) for fixed observed units.

        With two-part attention the prefix stream is computed once per landscape and reused
        by every later call, so repeated descent steps on one landscape pay only for the
        candidate stream.
        """
        if self.attention == "masked":
            return lambda candidate, landscape: self(observed, candidate, landscape)
        prefixes: dict[int, KeysValuesCache] = {}

        def energy(candidate: torch.Tensor, landscape: int) -> torch.Tensor:
            if landscape not in prefixes:
                prefixes[landscape] = self.observe(observed, landscape)
            return self.candidate_energies(prefixes[landscape], candidate)

        return energy
