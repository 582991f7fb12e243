"""LightningModules: each contains the loss, the training steps and the logging of one model family."""

from ebtlab.models.base import PredictionModel
from ebtlab.models.denoising import DenoisingModel
from ebtlab.models.denoising_ebt import DenoisingEBT
from ebtlab.models.diffusion import DiffusionTransformer
from ebtlab.models.ebt import EnergyBasedTransformer
from ebtlab.models.transformer import AutoregressiveTransformer

# The model families a config may name in `model.architecture`.
ARCHITECTURES: dict[str, type[PredictionModel]] = {
    "ebt": EnergyBasedTransformer,
    "transformer": AutoregressiveTransformer,
    "denoising_ebt": DenoisingEBT,
    "diffusion": DiffusionTransformer,
}

# The baseline that `ebtlab compare` trains next to each EBT architecture.
BASELINES: dict[str, str] = {"ebt": "transformer", "denoising_ebt": "diffusion"}

__all__ = [
    "ARCHITECTURES",
    "AutoregressiveTransformer",
    "BASELINES",
    "DenoisingEBT",
    "DenoisingModel",
    "DiffusionTransformer",
    "EnergyBasedTransformer",
    "PredictionModel",
]
