"""The denoising EBT: gradient descent on the energy of a whole sequence, starting from its noisy version.

Notation: B batch, P units per whole sequence, D model width, C unit width, K descent steps.
"""

import torch

from ebtlab.config import DenoisingConfig, EBTConfig, ModelConfig, OptimConfig, RunConfig, ThinkingConfig
from ebtlab.descent import EnergyFn
from ebtlab.energy import BidirectionalEnergyTransformer
from ebtlab.modality import Modality
from ebtlab.models.denoising import DenoisingModel
from ebtlab.models.ebt import EnergyBasedTransformer


class DenoisingEBT(DenoisingModel, EnergyBasedTransformer):
    """An EBT whose candidate is a whole sequence, scored by a bidirectional energy transformer.

    The initial candidate is the noisy sequence itself, and K descent steps move it toward the
    clean one. Training and evaluation follow the `ebt` and `thinking` sections like the
    autoregressive EBT, with one prediction per sequence: a random step size, best-of-N
    selection and accept-lower act per sequence. Every one of the N candidates starts from the
    noisy sequence, so they differ only with `thinking.langevin_noise_std` above zero.

    Each descent step evaluates the network once forward and once backward, for the gradient
    with respect to the candidate; `network_evaluations` counts the forward passes.
    """

    def __init__(
        self,
        modality: Modality,
        *,
        model: ModelConfig,
        ebt: EBTConfig,
        thinking: ThinkingConfig,
        denoising: DenoisingConfig,
        optim: OptimConfig,
        max_steps: int,
        seed: int,
    ):
        super().__init__(modality, model=model, ebt=ebt, thinking=thinking, optim=optim, max_steps=max_steps, seed=seed)
        self.energy_network.zero_initialize()
        self.configure_denoising(denoising)

    @classmethod
    def from_config(cls, modality: Modality, config: RunConfig) -> "DenoisingEBT":
        return cls(
            modality,
            model=config.model,
            ebt=config.ebt,
            thinking=config.thinking,
            denoising=config.denoising,
            optim=config.optim,
            max_steps=config.trainer.max_steps,
            seed=config.seed,
        )

    def build_networks(self, model: ModelConfig, *, landscapes: int) -> None:
        shape = model.shape()
        self.candidate_space = self.modality.build_candidate_space(shape.width)
        self.energy_network = BidirectionalEnergyTransformer(
            layers=shape.layers,
            width=shape.width,
            heads=shape.heads,
            grid=self.modality.unit_grid,
            landscapes=landscapes,
        )

    def energy_function(self, observed: torch.Tensor) -> EnergyFn:
        """Return E(normalized candidate (B, P, C), landscape) -> (B, 1); the noisy `observed` only starts the descent."""

        def energy(normalized: torch.Tensor, landscape: int) -> torch.Tensor:
            return self.energy_network(self.candidate_space(normalized), landscape)  # (B, 1)

        return energy

    def initial_candidates(self, batch: dict, generator: torch.Generator | None) -> torch.Tensor:
        return batch["observed"]  # the noisy sequences (B, P, C)

    def predictions_shape(self, target: torch.Tensor) -> torch.Size:
        return torch.Size((target.shape[0], 1))  # one prediction per sequence

    def training_loss(self, batch: dict) -> torch.Tensor:
        return super().training_loss(self.training_batch(batch))

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        return super().training_step(self.training_batch(batch), batch_index)

    def denoise(self, noisy: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.think({"observed": noisy, "target": noisy}, self.thinking, generator).candidates[-1]

    def network_evaluations(self, level: float) -> int:
        return self.thinking_steps(self.thinking) * self.thinking.candidates
