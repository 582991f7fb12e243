"""The Energy-Based Transformer as a LightningModule, for any modality.

Notation: B batch, S units per sequence, D model width, C candidate width, K descent steps.
"""

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics import MeanMetric

from ebtlab.config import EBTConfig, ModelConfig, OptimConfig
from ebtlab.descent import DescentPlan, DescentResult, descend
from ebtlab.energy import AutoregressiveEnergyTransformer
from ebtlab.modality import Modality
from ebtlab.models.schedule import warmup_cosine
from ebtlab.numerics import finite_flags
from ebtlab.sampler import process_group
from ebtlab.nn.init import initialize_weights

# Adam betas of the published EBT recipe.
ADAM_BETAS = (0.9, 0.999)
# A learnable step size is clamped here so that a bad update cannot turn descent into ascent.
MIN_STEP_SIZE = 1e-4


class EnergyBasedTransformer(L.LightningModule):
    """Predicts by gradient descent on a learned energy, trained through the unrolled descent.

    Each descent step uses a landscape: its own learned landscape token with
    `landscapes="per_step"` (the System 1 recipe), or one shared token. Training unrolls
    `descent_steps` steps with second-order gradients and applies the modality's task loss
    to the candidate after each step. Evaluation runs the same descent with gradients
    enabled but without second-order graphs; run the Trainer with `inference_mode=False`.
    """

    def __init__(
        self,
        modality: Modality,
        *,
        model: ModelConfig,
        ebt: EBTConfig,
        optim: OptimConfig,
        max_steps: int,
        seed: int,
    ):
        super().__init__()
        self.modality = modality
        self.recipe = ebt
        self.optim_config = optim
        self.max_steps = max_steps
        self.seed = seed

        shape = model.shape()
        self.encoder = modality.build_encoder(shape.width)
        self.candidate_space = modality.build_candidate_space(shape.width)
        landscapes = ebt.descent_steps if ebt.landscapes == "per_step" else 1
        self.landscape_of_step = [k if ebt.landscapes == "per_step" else 0 for k in range(ebt.descent_steps)]
        self.energy_network = AutoregressiveEnergyTransformer(
            layers=shape.layers,
            width=shape.width,
            heads=shape.heads,
            max_context=modality.context_length,
            landscapes=landscapes,
            attention=model.attention,
        )
        initialize_weights(self)
        self.step_size = nn.Parameter(torch.tensor(float(ebt.step_size)), requires_grad=ebt.step_size_learnable)
        self.validation_losses = nn.ModuleList(MeanMetric() for _ in range(ebt.descent_steps))
        self.validation_generator: torch.Generator | None = None
        self.validation_sample = ""
        self.finite_flags: dict[str, torch.Tensor] = {}  # read by ebtlab.numerics.NonFiniteCheck

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())

    def initial_candidates(self, target: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Draw initial candidates (B, S, C) for a batch whose targets are `target`.

        In distributed training each of the W processes draws the candidates of the whole
        global batch (W * B rows) and keeps its own rows, so that the draws match those of one
        process with the global batch. Evaluation runs the whole split on every process.
        """
        rank, world_size = process_group() if self.training else (0, 1)
        if world_size == 1:
            return self.candidate_space.initial(target, generator)
        B = target.shape[0]
        global_target = target.repeat(world_size, *([1] * (target.dim() - 1)))  # (W * B, S)
        return self.candidate_space.initial(global_target, generator)[rank * B : (rank + 1) * B]

    def descend(self, batch: dict, *, second_order: bool, generator: torch.Generator | None = None) -> DescentResult:
        """Run energy descent from fresh initial candidates for every position of the batch."""
        observed = self.encoder(batch["observed"])  # (B, S, D)
        initial = self.initial_candidates(batch["target"], generator)  # (B, S, C)
        energy_of_embedding = self.energy_network.energy_function(observed)

        def energy(normalized: torch.Tensor, landscape: int) -> torch.Tensor:
            return energy_of_embedding(self.candidate_space(normalized), landscape)  # (B, S)

        plan = DescentPlan(
            landscapes=self.landscape_of_step,
            detach_between_steps=self.recipe.detach_between_steps,
            second_order=second_order,
        )
        step_size = self.step_size.clamp(min=MIN_STEP_SIZE)
        return descend(energy, initial, self.candidate_space.normalize, step_size, plan)

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor], DescentResult]:
        """Return the training loss, the task loss after each descent step, and the descent."""
        result = self.descend(batch, second_order=True)
        losses = [self.modality.loss(candidate, batch["target"]) for candidate in result.candidates]
        loss = torch.stack(losses).mean() if self.recipe.loss_over_steps == "mean" else losses[-1]
        return loss, losses, result

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        loss, losses, result = self.training_loss(batch)
        self.finite_flags = finite_flags(loss, result, self.step_size)
        target = batch["target"]
        mask = self.modality.scored_mask(target)  # (B, S)
        batch_size = target.shape[0]
        # Synchronised, so that with several processes the logged loss is that of the global batch.
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=True)
        for k, (step_loss, energy) in enumerate(zip(losses, result.energies), start=1):
            self.log(f"train/loss_step_{k}", step_loss, batch_size=batch_size)
            self.log(f"train/energy_step_{k}", energy[mask].mean(), batch_size=batch_size)
        self.log("train/step_size", self.step_size.detach(), batch_size=batch_size)
        return loss

    def on_validation_epoch_start(self) -> None:
        # The same initial candidates at every evaluation, so results are comparable and reproducible.
        self.validation_generator = torch.Generator(device=self.device).manual_seed(self.seed)
        for metric in self.validation_losses:
            metric.reset()

    def validation_step(self, batch: dict, batch_index: int) -> None:
        result = self.descend(batch, second_order=False, generator=self.validation_generator)
        target = batch["target"]
        mask = self.modality.scored_mask(target)
        units = int(mask.sum())
        if units == 0:
            return

        for k, (candidate, energy) in enumerate(zip(result.candidates, result.energies), start=1):
            loss = self.modality.loss(candidate, target)
            self.validation_losses[k - 1].update(loss, weight=units)
            self.log(f"val/energy_step_{k}", energy[mask].mean(), batch_size=units)
        final = result.candidates[-1]
        for name, value in self.modality.metrics(final, target).items():
            self.log(f"val/{name}", value, batch_size=units)
        for name, value in self.modality.reference_losses(target).items():
            self.log(f"val/{name}", value, batch_size=units)
        if batch_index == 0:
            self.validation_sample = self.modality.describe(batch["observed"][0], final[0])

    def on_validation_epoch_end(self) -> None:
        step_losses = [metric.compute() for metric in self.validation_losses]
        for k, loss in enumerate(step_losses, start=1):
            self.log(f"val/loss_step_{k}", loss)
        self.log("val/loss", step_losses[-1], prog_bar=True)
        for name, value in self.modality.summary_metrics(float(step_losses[-1])).items():
            self.log(f"val/{name}", value)
        if self.validation_sample and isinstance(self.logger, TensorBoardLogger):
            self.logger.experiment.add_text("val/sample", self.validation_sample, self.global_step)

    def configure_optimizers(self):
        network = [p for p in self.parameters() if p is not self.step_size and p.requires_grad]
        groups = [{"name": "network", "params": network, "lr": self.optim_config.lr, "weight_decay": self.optim_config.weight_decay}]
        if self.step_size.requires_grad:
            groups.append(
                {
                    "name": "step_size",
                    "params": [self.step_size],
                    "lr": self.optim_config.lr * self.recipe.step_size_lr_multiplier,
                    "weight_decay": 0.0,
                }
            )
        optimizer = torch.optim.AdamW(groups, betas=ADAM_BETAS)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: warmup_cosine(step, warmup_steps=self.optim_config.warmup_steps, total_steps=self.max_steps),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
