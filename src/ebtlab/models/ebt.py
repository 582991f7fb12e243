"""The Energy-Based Transformer as a LightningModule, for any modality.

Notation: B batch, S units per sequence, D model width, C candidate width, K descent steps.
"""

from collections.abc import Iterator

import torch
from torch import nn
from torchmetrics import MeanMetric

from ebtlab.config import EBTConfig, ModelConfig, OptimConfig, RunConfig, ThinkingConfig
from ebtlab.descent import DescentPlan, DescentResult, EnergyFn, descend
from ebtlab.energy import AutoregressiveEnergyTransformer
from ebtlab.modality import Modality
from ebtlab.models.base import PredictionModel, evaluation_generator
from ebtlab.numerics import finite_flags
from ebtlab.sampler import process_group
from ebtlab.nn.init import initialize_weights
from ebtlab.replay import ReplayBuffer
from ebtlab.thinking import BestOfN

# Checkpoint key of the replay buffer's rows, restored on resume.
REPLAY_BUFFER_KEY = "replay_buffer"
# A learnable step size is clamped here so that a bad update cannot turn descent into ascent.
MIN_STEP_SIZE = 1e-4


class EnergyBasedTransformer(PredictionModel):
    """Predicts by gradient descent on a learned energy, trained through the unrolled descent.

    Each descent step uses a landscape: its own learned landscape token with
    `landscapes="per_step"` (the System 1 recipe), or one shared token (System 2). Training
    unrolls the descent with second-order gradients and applies the modality's task loss to
    the candidate after each step. Evaluation thinks as the `thinking` config describes: more or
    fewer steps, best of N candidates by energy, accept-lower, Langevin noise. It runs with
    gradients enabled but without second-order graphs; run the Trainer with
    `inference_mode=False`.
    """

    def __init__(
        self,
        modality: Modality,
        *,
        model: ModelConfig,
        ebt: EBTConfig,
        thinking: ThinkingConfig,
        optim: OptimConfig,
        max_steps: int,
        seed: int,
    ):
        super().__init__(modality, optim=optim, max_steps=max_steps, seed=seed)
        self.recipe = ebt
        self.thinking = thinking

        self.build_networks(model, landscapes=ebt.descent_steps if ebt.landscapes == "per_step" else 1)
        initialize_weights(self)
        self.step_size = nn.Parameter(torch.tensor(float(ebt.step_size)), requires_grad=ebt.step_size_learnable)
        self.replay_buffer = ReplayBuffer(ebt.replay_buffer_rows) if ebt.replay_buffer_rows else None
        self.validation_losses = nn.ModuleList(MeanMetric() for _ in range(self.thinking_steps(thinking)))
        self.finite_flags: dict[str, torch.Tensor] = {}  # read by ebtlab.numerics.NonFiniteCheck

    @classmethod
    def from_config(cls, modality: Modality, config: RunConfig) -> "EnergyBasedTransformer":
        return cls(
            modality,
            model=config.model,
            ebt=config.ebt,
            thinking=config.thinking,
            optim=config.optim,
            max_steps=config.trainer.max_steps,
            seed=config.seed,
        )

    def build_networks(self, model: ModelConfig, *, landscapes: int) -> None:
        """Build the modules of the energy: the encoder, the candidate space and the energy network."""
        shape = model.shape()
        self.encoder = self.modality.build_encoder(shape.width)
        self.candidate_space = self.modality.build_candidate_space(shape.width)
        self.energy_network = AutoregressiveEnergyTransformer(
            layers=shape.layers,
            width=shape.width,
            heads=shape.heads,
            max_context=self.modality.context_length,
            landscapes=landscapes,
            attention=model.attention,
        )

    def landscape_of_step(self, k: int) -> int:
        """Return the landscape of descent step k; steps beyond the trained ones use the last landscape."""
        return min(k, self.energy_network.landscape.landscapes - 1)

    def thinking_steps(self, thinking: ThinkingConfig) -> int:
        return thinking.descent_steps or self.recipe.descent_steps

    def initial_candidates(self, batch: dict, generator: torch.Generator | None) -> torch.Tensor:
        """Draw initial candidates (B, S, C) for a batch, from the candidate space and batch["target"].

        In distributed training each of the W processes draws the candidates of the whole
        global batch (W * B rows) and keeps its own rows, so that the draws match those of one
        process with the global batch. Evaluation runs the whole split on every process.
        """
        target = batch["target"]
        rank, world_size = process_group() if self.training else (0, 1)
        if world_size == 1:
            return self.candidate_space.initial(target, generator)
        B = target.shape[0]
        global_target = target.repeat(world_size, *([1] * (target.dim() - 1)))  # (W * B, S)
        return self.candidate_space.initial(global_target, generator)[rank * B : (rank + 1) * B]

    def energy_function(self, observed: torch.Tensor) -> EnergyFn:
        """Return E(normalized candidate (B, S, C), landscape) -> (B, S) for observed units.

        The observed stream is computed once per landscape and shared by every later call.
        """
        energy_of_embedding = self.energy_network.energy_function(self.encoder(observed))

        def energy(normalized: torch.Tensor, landscape: int) -> torch.Tensor:
            return energy_of_embedding(self.candidate_space(normalized), landscape)  # (B, S)

        return energy

    def predictions_shape(self, target: torch.Tensor) -> torch.Size:
        """Return the shape (B, S) of the predictions of a batch whose targets are `target`: one energy each."""
        return self.modality.scored_mask(target).shape

    def training_step_size(self, target: torch.Tensor) -> torch.Tensor:
        """Return the step size of a training descent, one per prediction (B, S, 1) if it is random."""
        step_size = self.step_size.clamp(min=MIN_STEP_SIZE)
        if not self.recipe.random_step_size:
            return step_size
        # Uniform in [step_size / 2, 2 * step_size] for every prediction.
        return step_size * (0.5 + 1.5 * torch.rand(*self.predictions_shape(target), 1, device=target.device))

    def training_steps(self) -> int:
        """Return K for one training batch: drawn from [min, max] if the recipe randomises it."""
        low = self.recipe.min_training_descent_steps
        if low is None:
            return self.recipe.descent_steps
        return int(torch.randint(low, self.recipe.descent_steps + 1, ()))

    def with_replay(self, batch: dict) -> tuple[dict, torch.Tensor]:
        """Return the batch with replayed rows appended, and the initial candidates of all its rows.

        Fresh rows start from the candidate space's random initial candidates; replayed rows
        restart from their stored final candidates.
        """
        initial = self.initial_candidates(batch, None)  # (B, S, C)
        if self.replay_buffer is None or len(self.replay_buffer) == 0:
            return batch, initial
        count = max(1, round(self.recipe.replay_share * batch["target"].shape[0]))
        replayed = self.replay_buffer.sample(count, initial.device)
        batch = {name: torch.cat((batch[name], replayed[name])) for name in ("observed", "target")}
        return batch, torch.cat((initial, replayed["candidate"]))

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.unrolled_losses(batch)[0]

    def unrolled_losses(self, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor], DescentResult]:
        """Return the training loss, the task loss after each descent step, and the descent."""
        batch, initial = self.with_replay(batch)
        plan = DescentPlan(
            landscapes=[self.landscape_of_step(k) for k in range(self.training_steps())],
            detach_between_steps=self.recipe.detach_between_steps,
            second_order=True,
            second_order_last_step_only=self.recipe.second_order_last_step_only,
            noise_std=self.recipe.langevin_noise_std,
        )
        step_size = self.training_step_size(batch["target"])
        result = descend(self.energy_function(batch["observed"]), initial, self.candidate_space.normalize, step_size, plan)
        if self.replay_buffer is not None:
            self.replay_buffer.add(batch["observed"], batch["target"], result.candidates[-1])
        losses = [self.modality.loss(candidate, batch["target"]) for candidate in result.candidates]
        loss = torch.stack(losses).mean() if self.recipe.loss_over_steps == "mean" else losses[-1]
        return loss, losses, result

    def thinking_plan(self, thinking: ThinkingConfig) -> DescentPlan:
        """Return the inference descent that `thinking` describes, with a final energy evaluation."""
        return DescentPlan(
            landscapes=[self.landscape_of_step(k) for k in range(self.thinking_steps(thinking))],
            detach_between_steps=True,
            second_order=False,
            noise_std=thinking.langevin_noise_std,
            accept_lower=thinking.accept_lower,
            final_energy=True,
        )

    def think_candidates(
        self,
        batch: dict,
        thinking: ThinkingConfig,
        generator: torch.Generator | None = None,
        energy: EnergyFn | None = None,
    ) -> Iterator[BestOfN]:
        """Descend the N candidates of `thinking` one after another; yield the best-of-n after each.

        All N descend on one energy function, so the observed stream is computed once per
        landscape for all of them. `energy` replaces the energy function of batch["observed"],
        for callers that keep their own prefix cache; batch["target"] then only sets the shape.
        """
        energy = energy or self.energy_function(batch["observed"])
        plan = self.thinking_plan(thinking)
        step_size = thinking.step_size or self.step_size.detach().clamp(min=MIN_STEP_SIZE)
        best = BestOfN(thinking.selection)
        for _ in range(thinking.candidates):
            initial = self.initial_candidates(batch, generator)  # (B, S, C)
            best.add(descend(energy, initial, self.candidate_space.normalize, step_size, plan, generator))
            yield best

    def think(
        self,
        batch: dict,
        thinking: ThinkingConfig,
        generator: torch.Generator | None = None,
        energy: EnergyFn | None = None,
    ) -> BestOfN:
        """Predict every unit of the batch as `thinking` describes; return the best candidates per step."""
        for best in self.think_candidates(batch, thinking, generator, energy):
            pass
        return best

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.replay_buffer is not None:
            checkpoint[REPLAY_BUFFER_KEY] = self.replay_buffer.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.replay_buffer is not None and REPLAY_BUFFER_KEY in checkpoint:
            self.replay_buffer.load_state_dict(checkpoint[REPLAY_BUFFER_KEY])

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        loss, losses, result = self.unrolled_losses(batch)
        self.finite_flags = finite_flags(loss, result, self.step_size)
        batch_size = batch["target"].shape[0]
        # Synchronised, so that with several processes the logged loss is that of the global batch.
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=True)
        for k, (step_loss, energy) in enumerate(zip(losses, result.energies), start=1):
            self.log(f"train/loss_step_{k}", step_loss, batch_size=batch_size)
            # The energy that step k starts from, averaged over every prediction of the batch.
            self.log(f"train/energy_before_step_{k}", energy.mean(), batch_size=batch_size)
        self.log("train/step_size", self.step_size.detach(), batch_size=batch_size)
        return loss

    def on_validation_epoch_start(self) -> None:
        for metric in self.validation_losses:
            metric.reset()

    def validation_step(self, batch: dict, batch_index: int) -> None:
        target = batch["target"]
        mask = self.modality.scored_mask(target)
        units = int(mask.sum())
        if units == 0:
            return

        # The same initial candidates at every evaluation, so results are comparable and reproducible.
        best = self.think(batch, self.thinking, evaluation_generator(self.seed, batch_index, self.device))
        for k, (candidate, energy) in enumerate(zip(best.candidates, best.energies), start=1):
            loss = self.modality.loss(candidate, target)
            self.validation_losses[k - 1].update(loss, weight=units)
            self.log(f"{self.evaluation_stage}/energy_step_{k}", energy[mask].mean(), batch_size=units)
        self.log_prediction_metrics(best.candidates[-1], batch, batch_index)

    def on_validation_epoch_end(self) -> None:
        step_losses = [metric.compute() for metric in self.validation_losses]
        for k, loss in enumerate(step_losses, start=1):
            self.log(f"{self.evaluation_stage}/loss_step_{k}", loss)
        self.log_validation_loss(step_losses[-1])

    def extra_parameter_groups(self) -> list[dict]:
        if not self.step_size.requires_grad:
            return []
        # The published recipe gives the step size its own, much larger learning rate and no weight decay.
        return [
            {
                "name": "step_size",
                "params": [self.step_size],
                "lr": self.optim_config.lr * self.recipe.step_size_lr_multiplier,
                "weight_decay": 0.0,
            }
        ]
