"""The bidirectional energy transformer: one energy for a whole candidate sequence, for denoising.

Notation: B batch, P units per sequence (the patches of an image, say), D model width.

Every unit of the candidate attends to every other unit, so the energy depends on all of them.
Each landscape is a learned vector that conditions every adaLN block. A zero-initialised
linear head gives each unit a scalar energy, and the sequence's energy is their mean, so at
initialisation the energy is flat and descent leaves its starting point unchanged.
"""

import torch
from torch import nn

from ebtlab.nn import LandscapeEmbedding
from ebtlab.nn.adaln import AdaLNTransformer


class BidirectionalEnergyTransformer(nn.Module):
    """Energy E(y) of a whole candidate sequence y, one per sequence."""

    def __init__(self, *, layers: int, width: int, heads: int, grid: tuple[int, ...], landscapes: int):
        super().__init__()
        self.landscape = LandscapeEmbedding(landscapes, width)
        self.transformer = AdaLNTransformer(layers=layers, width=width, heads=heads, grid=grid)
        self.energy_head = nn.Linear(width, 1, bias=False)

    def zero_initialize(self) -> None:
        """Zero the energy head and the adaLN modulations; call after any generic weight initialisation."""
        self.transformer.zero_initialize()
        nn.init.zeros_(self.energy_head.weight)

    def unit_energies(self, candidate: torch.Tensor, landscape: int) -> torch.Tensor:
        """Return the energy of every unit (B, P) of embedded candidates (B, P, D)."""
        condition = self.landscape(landscape, candidate.shape[0])[:, 0]  # (B, D)
        return self.energy_head(self.transformer(candidate, condition)).squeeze(-1)  # (B, P)

    def forward(self, candidate: torch.Tensor, landscape: int) -> torch.Tensor:
        # candidate: (B, P, D) embedded candidates -> energies (B, 1), the mean over units
        return self.unit_energies(candidate, landscape).mean(dim=1, keepdim=True)
