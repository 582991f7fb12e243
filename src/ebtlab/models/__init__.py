"""LightningModules: each contains the loss, the training steps and the logging of one model family."""

from ebtlab.models.ebt import EnergyBasedTransformer

__all__ = ["EnergyBasedTransformer"]
