"""LightningModules: each contains the loss, the training steps and the logging of one model family."""

from ebtlab.models.base import PredictionModel
from ebtlab.models.ebt import EnergyBasedTransformer
from ebtlab.models.transformer import AutoregressiveTransformer

# The model families a config may name in `model.architecture`.
ARCHITECTURES: dict[str, type[PredictionModel]] = {
    "ebt": EnergyBasedTransformer,
    "transformer": AutoregressiveTransformer,
}

__all__ = ["ARCHITECTURES", "AutoregressiveTransformer", "EnergyBasedTransformer", "PredictionModel"]
