"""The diffusion baseline of the denoising EBT: a DiT-style transformer that predicts the noise.

Notation: B batch, P units per whole sequence, D model width, C unit width.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.config import DenoisingConfig, ModelConfig, OptimConfig, RunConfig
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality
from ebtlab.models.denoising import DenoisingModel, whole_sequences
from ebtlab.nn.adaln import AdaLNTransformer
from ebtlab.nn.init import initialize_weights
from ebtlab.nn.timestep import TimestepEmbedding


class DiffusionTransformer(DenoisingModel):
    """Epsilon prediction with the blocks of the bidirectional energy transformer, conditioned on the timestep.

    It trains on every schedule step t from 1 up to the training level, with noise drawn as in
    DDPM, and denoises a sequence at level l by deterministic DDIM updates from t = l * 1000 to
    0 (`denoising.sampling_steps` of them, or one per schedule step). Each update is one forward
    pass. The modality's encoder embeds the noisy units and its direct prediction head, zeroed at
    initialisation as in DiT, returns the predicted noise.
    """

    def __init__(self, modality: Modality, *, model: ModelConfig, denoising: DenoisingConfig, optim: OptimConfig, max_steps: int, seed: int):
        super().__init__(modality, optim=optim, max_steps=max_steps, seed=seed)
        shape = model.shape()
        self.encoder = modality.build_encoder(shape.width)
        self.timestep_embedding = TimestepEmbedding(shape.width)
        self.transformer = AdaLNTransformer(layers=shape.layers, width=shape.width, heads=shape.heads, grid=modality.unit_grid)
        self.noise_head = modality.build_prediction_head(shape.width)
        if self.noise_head is None:
            raise ConfigError(f"model.architecture: modality {modality.name!r} provides no direct prediction head for the diffusion model")
        initialize_weights(self)
        self.transformer.zero_initialize()
        for parameter in self.noise_head.parameters():
            nn.init.zeros_(parameter)
        self.configure_denoising(denoising)

    @classmethod
    def from_config(cls, modality: Modality, config: RunConfig) -> "DiffusionTransformer":
        return cls(
            modality,
            model=config.model,
            denoising=config.denoising,
            optim=config.optim,
            max_steps=config.trainer.max_steps,
            seed=config.seed,
        )

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        # noisy: (B, P, C) units at schedule steps `timesteps` (B,) -> predicted noise (B, P, C)
        hidden = self.transformer(self.encoder(noisy), self.timestep_embedding(timesteps))  # (B, P, D)
        return self.noise_head(hidden)

    def training_loss(self, batch: dict) -> torch.Tensor:
        clean = whole_sequences(batch)
        highest = self.schedule.timestep(self.denoising.noise_level)
        timesteps = torch.randint(1, highest + 1, (clean.shape[0],), device=clean.device)  # (B,)
        noise = torch.randn_like(clean)
        return F.mse_loss(self(self.schedule.add_noise(clean, timesteps, noise), timesteps), noise)

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["target"].shape[0], sync_dist=True)
        return loss

    def sampling_timesteps(self, level: float) -> list[int]:
        return self.schedule.sampling_timesteps(self.schedule.timestep(level), self.denoising.sampling_steps)

    def denoise(self, noisy: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
        timesteps = self.sampling_timesteps(level)
        sample = noisy
        with torch.no_grad():
            for timestep, next_timestep in zip(timesteps, timesteps[1:]):
                predicted_noise = self(sample, torch.full((sample.shape[0],), timestep, device=sample.device))
                sample = self.schedule.ddim_step(sample, predicted_noise, timestep, next_timestep)
        return sample

    def network_evaluations(self, level: float) -> int:
        return len(self.sampling_timesteps(level)) - 1
