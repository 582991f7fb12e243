"""The parts every model of a modality's units shares: the optimiser, the schedule and validation reports.

Notation: B batch, S units per sequence, C candidate width.
"""

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.io import write_png

from ebtlab.config import OptimConfig, RunConfig
from ebtlab.media import write_wav
from ebtlab.modality import Modality
from ebtlab.models.schedule import warmup_cosine

# Adam betas of the published EBT recipe, used for the baselines too so that they train alike.
ADAM_BETAS = (0.9, 0.999)
# Spreads the seeds of evaluation batches, so that runs with nearby seeds share no batch's draws.
SEED_STRIDE = 1_000_003


def evaluation_generator(seed: int, batch_index: int, device: torch.device) -> torch.Generator:
    """Return the generator of one evaluation batch's random draws (initial candidates, noise).

    It depends only on the run's seed and the batch's index, so validation, `ebtlab think` and
    `ebtlab compare` draw the same numbers for the same batch, whatever they drew before it.
    """
    return torch.Generator(device=device).manual_seed(seed * SEED_STRIDE + batch_index)


class PredictionModel(L.LightningModule):
    """A LightningModule that predicts a modality's units and is scored by the modality's loss.

    Subclasses build their networks, compute predictions of shape (B, S, C), and call
    `log_prediction_metrics` in `validation_step` and `log_validation_loss` at the end of
    each validation epoch.
    """

    def __init__(self, modality: Modality, *, optim: OptimConfig, max_steps: int, seed: int):
        super().__init__()
        self.modality = modality
        self.optim_config = optim
        self.max_steps = max_steps
        self.seed = seed
        self.validation_sample = ""
        self.validation_image: torch.Tensor | None = None  # (3, H, W) in [0, 1], from the modality's render
        self.validation_sound: tuple[torch.Tensor, int] | None = None  # waveform (T,) and sample rate, from render_sound

    @classmethod
    def from_config(cls, modality: Modality, config: RunConfig) -> "PredictionModel":
        """Build the model from the sections of a run config that it reads."""
        raise NotImplementedError

    def training_loss(self, batch: dict) -> torch.Tensor:
        """Return the scalar loss that one training step minimises on `batch`."""
        raise NotImplementedError

    def evaluation_batch(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        """Return the batch that evaluation feeds the model for a batch of the modality's data; the batch itself by default."""
        return batch

    def units_in(self, batch: dict) -> int:
        """Return the number of units a training step on `batch` predicts, for counting the data seen."""
        return int(self.modality.scored_mask(batch["target"]).sum())

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())

    def log_prediction_metrics(self, final: torch.Tensor, batch: dict, batch_index: int) -> None:
        """Log the modality's metrics and reference losses for final predictions (B, S, C)."""
        target = batch["target"]
        units = int(self.modality.scored_mask(target).sum())
        if units == 0:
            return
        for name, value in self.modality.metrics(final, target).items():
            self.log(f"{self.evaluation_stage}/{name}", value, batch_size=units)
        for name, value in self.modality.reference_losses(target).items():
            self.log(f"{self.evaluation_stage}/{name}", value, batch_size=units)
        if batch_index == 0:
            self.validation_sample = self.modality.describe(batch["observed"][0], final[0])
            self.validation_image = self.modality.render(batch["observed"], target, final)
            self.validation_sound = self.modality.render_sound(batch["observed"], target, final)

    def log_validation_loss(self, loss: torch.Tensor) -> None:
        """Log the epoch's validation loss, the metrics the modality derives from it, and a sample."""
        stage = self.evaluation_stage
        self.log(f"{stage}/loss", loss, prog_bar=True)
        for name, value in self.modality.summary_metrics(float(loss)).items():
            self.log(f"{stage}/{name}", value)
        if self.validation_sample and isinstance(self.logger, TensorBoardLogger):
            self.logger.experiment.add_text(f"{stage}/sample", self.validation_sample, self.global_step)
        if self.validation_image is not None and isinstance(self.logger, TensorBoardLogger):
            self.logger.experiment.add_image(f"{stage}/sample_image", self.validation_image, self.global_step)
            samples = Path(self.logger.log_dir) / "samples"
            samples.mkdir(exist_ok=True)
            pixels = (self.validation_image * 255).round().to(torch.uint8).cpu()
            write_png(pixels, str(samples / f"{stage}_step_{self.global_step}.png"))
        if self.validation_sound is not None and isinstance(self.logger, TensorBoardLogger):
            waveform, sample_rate = self.validation_sound
            self.logger.experiment.add_audio(f"{stage}/sample_sound", waveform[None].cpu(), self.global_step, sample_rate=sample_rate)
            samples = Path(self.logger.log_dir) / "samples"
            samples.mkdir(exist_ok=True)
            write_wav(samples / f"{stage}_step_{self.global_step}.wav", waveform, sample_rate)

    @property
    def evaluation_stage(self) -> str:
        """Return the prefix of evaluation metrics: "test" while the Trainer tests, else "val"."""
        return "test" if self._trainer is not None and self._trainer.testing else "val"

    # Testing is validation on the test split, logged under "test/".
    def on_test_epoch_start(self) -> None:
        self.on_validation_epoch_start()

    def test_step(self, batch: dict, batch_index: int) -> None:
        self.validation_step(batch, batch_index)

    def on_test_epoch_end(self) -> None:
        self.on_validation_epoch_end()

    def extra_parameter_groups(self) -> list[dict]:
        """Return optimiser groups with their own settings; every other parameter is in "network"."""
        return []

    def configure_optimizers(self):
        extra = self.extra_parameter_groups()
        separate = {id(parameter) for group in extra for parameter in group["params"]}
        network = [p for p in self.parameters() if p.requires_grad and id(p) not in separate]
        groups = [{"name": "network", "params": network, "lr": self.optim_config.lr, "weight_decay": self.optim_config.weight_decay}]
        optimizer = torch.optim.AdamW(groups + extra, betas=ADAM_BETAS)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: warmup_cosine(step, warmup_steps=self.optim_config.warmup_steps, total_steps=self.max_steps),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
