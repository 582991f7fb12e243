"""A candidate space shared by adapters whose units are real-valued vectors (patches, frames, samples).

Notation: B batch, S units per sequence, D model width, C values per unit.
"""

import torch
from torch import nn

from ebtlab.modality import CandidateSpace


class ContinuousCandidates(CandidateSpace):
    """A candidate is a vector of C real values, evaluated as it is (identity normalization) and embedded linearly.

    Initial candidates are Gaussian noise with standard deviation `initial_std`, in the units of the targets.
    """

    def __init__(self, unit_width: int, width: int, *, initial_std: float = 1.0):
        super().__init__()
        self.unit_width = unit_width
        self.initial_std = initial_std
        self.projection = nn.Linear(unit_width, width, bias=False)

    def initial(self, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # target: (B, S, C) -> Gaussian noise (B, S, C)
        return self.initial_std * torch.randn(target.shape, generator=generator, device=target.device)

    def normalize(self, candidate: torch.Tensor) -> torch.Tensor:
        return candidate

    def forward(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.projection(normalized)  # (B, S, C) -> (B, S, D)
