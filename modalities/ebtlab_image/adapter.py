"""The image modality: next-patch prediction, with a patch vector in [-1, 1] as the candidate.

Notation: B batch, S = P - 1 predicted patches per image, D model width, C pixels per patch.
"""

import logging
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio
from torchmetrics.functional.regression import mean_squared_error

from ebtlab.errors import ConfigError
from ebtlab.candidates import ContinuousCandidates
from ebtlab.modality import Modality
from ebtlab_image.data import ImageDataModule
from ebtlab_image.patches import PIXEL_RANGE, image_grid, to_signed_unit, patchify, unpatchify
from ebtlab_image.sources import load_images, resolve_source, split_images

log = logging.getLogger(__name__)

ImageSource = Literal["auto", "fashion_mnist", "mnist_5k", "idx", "folder"]
SOURCES_WITH_PATH = ("idx", "folder")
# Images shown in each validation sample grid: the real images above their predictions.
SAMPLE_IMAGES = 8
# Standard deviation of the initial candidates' Gaussian noise, in pixel units of the [-1, 1] range.
INITIAL_NOISE_STD = 1.0


@dataclass
class ImageDataConfig:
    # auto: Fashion-MNIST where the Debian package dataset-fashion-mnist is installed, else mnist_5k;
    # idx: the user's IDX image file or folder of them at `path`; folder: image files in `path`.
    source: ImageSource = "auto"
    path: str | None = None  # only for the sources idx and folder
    patch_size: int = 4  # side of a square patch in pixels; must divide the image height and width
    batch_size: int = 32
    num_workers: int = 0


class ImageModality(Modality):
    """Next-patch prediction over grayscale images cut into square patches in raster order."""

    name = "image"
    config_class = ImageDataConfig
    continuous_units = True

    def __init__(self, config: ImageDataConfig):
        super().__init__(config)
        if config.patch_size < 1:
            raise ConfigError(f"data.patch_size must be positive, got {config.patch_size}")
        if config.batch_size < 1:
            raise ConfigError(f"data.batch_size must be positive, got {config.batch_size}")
        if config.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {config.num_workers}")
        if config.source in SOURCES_WITH_PATH and not config.path:
            raise ConfigError(f"data.path is required for data.source={config.source}: the file or folder to read")
        if config.source not in SOURCES_WITH_PATH and config.path:
            raise ConfigError(f"data.path is only read for data.source idx or folder, not {config.source}; remove it")
        self.source: str | None = None  # the resolved source, never "auto"
        self.splits: dict[str, torch.Tensor] = {}  # 8-bit images (N, H, W) of each split
        self.image_height = self.image_width = 0
        self.mean_patches: torch.Tensor | None = None  # (S, C) mean target patches of the training split

    def prepare(self, state: dict | None = None) -> None:
        # A checkpoint keeps the source it was trained on, so "auto" cannot switch data sets later.
        self.source = state["source"] if state is not None else resolve_source(self.config.source)
        images = load_images(self.source, self.config.path)
        self.image_height, self.image_width = images.shape[1:]
        patch = self.config.patch_size
        if self.image_height % patch or self.image_width % patch:
            raise ConfigError(
                f"data.patch_size {patch} does not divide the {self.image_height}x{self.image_width}-pixel images of {self.source}"
            )
        if self.patches_per_image < 2:
            raise ConfigError(f"data.patch_size {patch} leaves one patch per image, so there is nothing to predict")
        splits = split_images(images)
        self.splits = {"train": splits.train, "validation": splits.validation, "test": splits.test}
        log.info("%s: %d training, %d validation, %d test images of %dx%d pixels", self.source, *(len(s) for s in self.splits.values()), self.image_height, self.image_width)

        # Mean-image reference: every target patch predicted by the training images' mean at its position.
        self.mean_patches = patchify(to_signed_unit(splits.train).mean(dim=0, keepdim=True), patch)[0, 1:]

    def state_dict(self) -> dict:
        return {"source": self.source}

    @property
    def patches_per_image(self) -> int:
        return (self.image_height // self.config.patch_size) * (self.image_width // self.config.patch_size)

    @property
    def patch_pixels(self) -> int:
        return self.config.patch_size**2

    @property
    def context_length(self) -> int:
        return self.patches_per_image - 1

    @property
    def unit_grid(self) -> tuple[int, int]:
        return self.image_height // self.config.patch_size, self.image_width // self.config.patch_size

    def datamodule(self, *, seed: int, start_batch: int = 0) -> ImageDataModule:
        return ImageDataModule(
            self.splits,
            patch_size=self.config.patch_size,
            batch_size=self.config.batch_size,
            num_workers=self.config.num_workers,
            seed=seed,
            start_batch=start_batch,
        )

    def build_encoder(self, width: int) -> nn.Module:
        return nn.Linear(self.patch_pixels, width)  # (B, S, C) -> (B, S, D)

    def build_candidate_space(self, width: int) -> ContinuousCandidates:
        return ContinuousCandidates(self.patch_pixels, width, initial_std=INITIAL_NOISE_STD)

    def build_prediction_head(self, width: int) -> nn.Module:
        return nn.Linear(width, self.patch_pixels)  # (B, S, D) -> (B, S, C) regressed pixels

    def scored_mask(self, target: torch.Tensor) -> torch.Tensor:
        return torch.ones(target.shape[:2], dtype=torch.bool, device=target.device)  # every patch counts

    def loss(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(candidate, target)

    def unit_losses(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # candidate, target: (B, S, C) patches -> (B, S), the smooth-L1 loss of each patch
        return F.smooth_l1_loss(candidate, target, reduction="none").mean(dim=-1)

    def metrics(self, candidate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        # PSNR of each image's predicted patches over the [-1, 1] range, averaged over the batch.
        return {
            "mse": mean_squared_error(candidate, target),
            "psnr": peak_signal_noise_ratio(candidate, target, data_range=PIXEL_RANGE, dim=(1, 2)),
        }

    def reference_losses(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        mean_patches = self.mean_patches.to(target.device).expand_as(target)
        return {"mean_image_loss": F.smooth_l1_loss(mean_patches, target)}

    def render(self, observed: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        # observed, target, prediction: (B, S, C); the first patch of each image is given, not predicted.
        sample = slice(0, SAMPLE_IMAGES)
        first = observed[sample, :1]
        return self.render_sequences([torch.cat((first, target[sample]), dim=1), torch.cat((first, prediction[sample].detach()), dim=1)])

    def render_sequences(self, rows: list[torch.Tensor]) -> torch.Tensor:
        # rows: whole images as patches (N, P, C); the first SAMPLE_IMAGES of each make one row of the grid
        return image_grid([self.images_of(patches[:SAMPLE_IMAGES].detach()) for patches in rows])

    def images_of(self, patches: torch.Tensor) -> torch.Tensor:
        """Reassemble the patches (N, P, C) of whole images into images (N, H, W)."""
        return unpatchify(patches.float().cpu(), self.config.patch_size, self.image_height, self.image_width)
