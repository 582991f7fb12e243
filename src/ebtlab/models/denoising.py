"""Parts shared by the denoising models: noising, evaluation at several noise levels, and pictures.

Notation: B batch, P units per whole sequence, C unit width.

A denoising model receives the clean whole sequence, noised to a level of the linear variance
schedule (`ebtlab.noise_schedule`), and returns its estimate of the clean sequence. Evaluation
noises each batch once per level with one noise draw, so every model compared gets the same
noisy inputs. It logs per level the task loss, the modality's metrics of the denoised and of
the noisy sequences, and the network evaluations that one denoised sequence costs.
"""

import torch
from torch import nn
from torchmetrics import MeanMetric

from ebtlab.config import DenoisingConfig
from ebtlab.errors import ConfigError
from ebtlab.models.base import PredictionModel, evaluation_generator
from ebtlab.noise_schedule import NoiseSchedule


def whole_sequences(batch: dict) -> torch.Tensor:
    """Return the whole sequences (B, S + 1, C) of a batch: its first observed unit followed by its targets."""
    return torch.cat((batch["observed"][:, :1], batch["target"]), dim=1)  # (B, S + 1, C)


def level_suffix(level: float) -> str:
    """Name a noise level in metric keys, such as "noise_0.1"."""
    return f"noise_{level:g}"


class DenoisingModel(PredictionModel):
    """A model that denoises whole sequences; subclasses call `configure_denoising` in `__init__`."""

    def configure_denoising(self, config: DenoisingConfig) -> None:
        if not self.modality.continuous_units:
            raise ConfigError(
                f"model.architecture: denoising needs continuous units, and modality {self.modality.name!r} "
                f"has categorical ones; use architecture ebt or transformer"
            )
        self.denoising = config
        self.schedule = NoiseSchedule()
        self.evaluation_levels = config.evaluation_levels()
        self.level_losses = nn.ModuleList(MeanMetric() for _ in self.evaluation_levels)

    def denoise(self, noisy: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return the estimate (B, P, C) of the clean sequences behind `noisy` (B, P, C), noised to `level`."""
        raise NotImplementedError

    def network_evaluations(self, level: float) -> int:
        """Return the forward passes of the network that denoising one sequence from `level` takes."""
        raise NotImplementedError

    def training_batch(self, batch: dict) -> dict:
        """Return {"observed": noisy, "target": clean} whole sequences, noised to the training level."""
        return self.evaluation_batch(batch)

    def evaluation_batch(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        """Return {"observed": noisy, "target": clean} whole sequences, noised to the training level with noise from `generator`."""
        clean = whole_sequences(batch)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device)
        return {"observed": self.schedule.add_noise(clean, self.schedule.timestep(self.denoising.noise_level), noise), "target": clean}

    def units_in(self, batch: dict) -> int:
        return whole_sequences(batch).shape[:2].numel()

    def on_validation_epoch_start(self) -> None:
        for metric in self.level_losses:
            metric.reset()

    def validation_step(self, batch: dict, batch_index: int) -> None:
        stage = self.evaluation_stage
        clean = whole_sequences(batch)
        B = clean.shape[0]
        # The same noise at every evaluation and for every model of one seed, so their results
        # compare. The noise is drawn first, as `evaluation_batch` draws it for `ebtlab think`.
        generator = evaluation_generator(self.seed, batch_index, clean.device)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device)
        for index, level in enumerate(self.evaluation_levels):
            noisy = self.schedule.add_noise(clean, self.schedule.timestep(level), noise)
            denoised = self.denoise(noisy, level, generator)
            self.level_losses[index].update(self.modality.loss(denoised, clean), weight=B)
            suffix = level_suffix(level)
            for name, value in self.modality.metrics(denoised, clean).items():
                self.log(f"{stage}/{name}_{suffix}", value, batch_size=B)
                if index == 0:
                    self.log(f"{stage}/{name}", value, batch_size=B)
            for name, value in self.modality.metrics(noisy, clean).items():
                self.log(f"{stage}/noisy_{name}_{suffix}", value, batch_size=B)
            if index == 0 and batch_index == 0:
                self.validation_image = self.modality.render_sequences([noisy, denoised, clean])

    def on_validation_epoch_end(self) -> None:
        stage = self.evaluation_stage
        losses = [metric.compute() for metric in self.level_losses]
        for level, loss in zip(self.evaluation_levels, losses):
            self.log(f"{stage}/loss_{level_suffix(level)}", loss)
            self.log(f"{stage}/network_evaluations_{level_suffix(level)}", float(self.network_evaluations(level)))
        self.log_validation_loss(losses[0])


def denoising_rows(models: list[DenoisingModel], batch: dict, level: float, seed: int) -> list[torch.Tensor]:
    """Return the noisy sequences of a batch at `level`, each model's denoised sequences, and the clean ones."""
    clean = whole_sequences(batch)
    noise = torch.randn(clean.shape, generator=torch.Generator(device=clean.device).manual_seed(seed), device=clean.device)
    noisy = models[0].schedule.add_noise(clean, models[0].schedule.timestep(level), noise)
    denoised = [model.denoise(noisy, level, torch.Generator(device=clean.device).manual_seed(seed)) for model in models]
    return [noisy, *denoised, clean]
