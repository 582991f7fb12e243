"""The autoregressive Transformer++ baseline as a LightningModule, for any modality with a direct head.

Notation: B batch, S units per sequence, D model width, C candidate width.
"""

import torch
from torchmetrics import MeanMetric

from ebtlab.config import ModelConfig, OptimConfig, RunConfig
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality
from ebtlab.models.base import PredictionModel
from ebtlab.nn import CausalTransformer, KeysValuesCache
from ebtlab.nn.init import initialize_weights


class AutoregressiveTransformer(PredictionModel):
    """Predicts unit i + 1 directly from units 0..i: the modality's encoder, causal blocks, its head.

    It shares the encoder, the blocks, the data, the loss and the metrics with the EBT built from
    the same config. Its prediction for position i is scored exactly like the EBT's final
    candidate for position i.
    """

    def __init__(self, modality: Modality, *, model: ModelConfig, optim: OptimConfig, max_steps: int, seed: int):
        super().__init__(modality, optim=optim, max_steps=max_steps, seed=seed)
        shape = model.shape()
        head = modality.build_prediction_head(shape.width)
        if head is None:
            raise ConfigError(
                f"model.architecture: modality {modality.name!r} provides no direct prediction head, "
                "so only the EBT can be trained on it"
            )
        self.encoder = modality.build_encoder(shape.width)
        self.network = CausalTransformer(layers=shape.layers, width=shape.width, heads=shape.heads, max_context=modality.context_length)
        self.prediction_head = head
        initialize_weights(self)
        self.validation_loss = MeanMetric()

    @classmethod
    def from_config(cls, modality: Modality, config: RunConfig) -> "AutoregressiveTransformer":
        return cls(modality, model=config.model, optim=config.optim, max_steps=config.trainer.max_steps, seed=config.seed)

    def forward(self, observed: torch.Tensor, cache: KeysValuesCache | None = None) -> torch.Tensor:
        """Return the prediction (B, S, C) of the next unit after each observed unit.

        With a cache, `observed` continues the cached sequence and the cache is extended.
        """
        return self.prediction_head(self.network(self.encoder(observed), cache))

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.modality.loss(self(batch["observed"]), batch["target"])

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["target"].shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        self.validation_loss.reset()

    def validation_step(self, batch: dict, batch_index: int) -> None:
        target = batch["target"]
        units = int(self.modality.scored_mask(target).sum())
        if units == 0:
            return
        prediction = self(batch["observed"])  # (B, S, C)
        self.validation_loss.update(self.modality.loss(prediction, target), weight=units)
        self.log_prediction_metrics(prediction, batch, batch_index)

    def on_validation_epoch_end(self) -> None:
        self.log_validation_loss(self.validation_loss.compute())
