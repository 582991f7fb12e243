"""Noisy sine waves as an ebtlab modality: each unit is one sample, predicted from the samples before it.

Notation: B batch, S samples per sequence, D model width, C = 1 value per unit.

The waves are generated from a seed: every sequence has its own frequency, phase and
amplitude, plus Gaussian noise. The splits are disjoint sets of sequences.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from ebtlab.candidates import ContinuousCandidates
from ebtlab.datamodule import SplitDataModule
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality

SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


@dataclass
class SineDataConfig:
    sequences: int = 256  # training sequences; validation and test get an eighth of this each
    context_length: int = 32  # samples per training sequence (S)
    noise_std: float = 0.05
    batch_size: int = 16
    num_workers: int = 0


def sine_waves(count: int, length: int, noise_std: float, seed: int) -> torch.Tensor:
    """Return `count` noisy sine waves (N, length, 1) with random frequency, phase and amplitude."""
    generator = torch.Generator().manual_seed(seed)
    cycles_per_sample = 0.02 + 0.08 * torch.rand(count, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(count, 1, generator=generator)
    amplitude = 0.5 + 0.5 * torch.rand(count, 1, generator=generator)
    time = torch.arange(length, dtype=torch.float32)
    waves = amplitude * torch.sin(2 * math.pi * cycles_per_sample * time + phase)
    return (waves + noise_std * torch.randn(waves.shape, generator=generator))[..., None]


class SineDataset(TensorDataset):
    """Waves (N, S + 1, 1) served as observed samples (S, 1) and target samples (S, 1)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        (wave,) = super().__getitem__(index)
        return {"observed": wave[:-1], "target": wave[1:]}


class SineModality(Modality):
    """Next-sample prediction on noisy sine waves, with one real value as the candidate."""

    name = "sine"
    config_class = SineDataConfig

    def __init__(self, config: SineDataConfig):
        super().__init__(config)
        if config.sequences < 8 or config.context_length < 1 or config.batch_size < 1:
            raise ConfigError("data.sequences must be at least 8, data.context_length and data.batch_size positive")
        self.waves: dict[str, torch.Tensor] = {}

    def prepare(self, state: dict | None = None) -> None:
        counts = {"train": self.config.sequences, "validation": self.config.sequences // 8, "test": self.config.sequences // 8}
        self.waves = {
            split: sine_waves(counts[split], self.config.context_length + 1, self.config.noise_std, seed)
            for split, seed in SPLIT_SEEDS.items()
        }

    def state_dict(self) -> dict:
        return {}

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def datamodule(self, *, seed: int, start_batch: int = 0) -> SplitDataModule:
        datasets = {split: SineDataset(waves) for split, waves in self.waves.items()}
        return SplitDataModule(datasets, batch_size=self.config.batch_size, num_workers=self.config.num_workers, seed=seed, start_batch=start_batch)

    def build_encoder(self, width: int) -> nn.Module:
        return nn.Linear(1, width)  # (B, S, 1) -> (B, S, D)

    def build_candidate_space(self, width: int) -> ContinuousCandidates:
        return ContinuousCandidates(1, width)

    def build_prediction_head(self, width: int) -> nn.Module:
        return nn.Linear(width, 1)  # (B, S, D) -> (B, S, 1)

    def scored_mask(self, target: torch.Tensor) -> torch.Tensor:
        return torch.ones(target.shape[:2], dtype=torch.bool, device=target.device)

    def loss(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(candidate, target)

    def unit_losses(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(candidate, target, reduction="none").mean(dim=-1)  # (B, S)
