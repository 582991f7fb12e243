"""Images as next-patch sequences, and the image data module.

Notation: P patches per image, S = P - 1 units per sequence, C pixels per patch.

Every patch but the first is predicted: an image with patches 0..P-1 gives the observed
patches 0..P-2 and the targets 1..P-1, so position i observes patches 0..i and predicts
patch i + 1. Patch 0 is always given.
"""

import torch
from torch.utils.data import Dataset

from ebtlab.datamodule import SplitDataModule
from ebtlab.errors import DataError
from ebtlab_image.patches import patchify, to_signed_unit


class PatchSequences(Dataset):
    """8-bit images (N, H, W), served as observed patches (S, C) and target patches (S, C) in [-1, 1]."""

    def __init__(self, images: torch.Tensor, patch_size: int):
        self.images = images
        self.patch_size = patch_size

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        patches = patchify(to_signed_unit(self.images[index : index + 1]), self.patch_size)[0]  # (P, C)
        return {"observed": patches[:-1], "target": patches[1:]}  # (S, C) each


class ImageDataModule(SplitDataModule):
    """Training, validation and test next-patch sequences of split images."""

    def __init__(
        self,
        splits: dict[str, torch.Tensor],
        *,
        patch_size: int,
        batch_size: int,
        num_workers: int,
        seed: int,
        start_batch: int = 0,
    ):
        datasets = {split: PatchSequences(images, patch_size) for split, images in splits.items() if images.shape[0] > 0}
        if len(datasets["train"]) < batch_size:
            raise DataError(
                f"the training split has {len(datasets['train'])} images, fewer than one batch of data.batch_size={batch_size}"
            )
        super().__init__(datasets, batch_size=batch_size, num_workers=num_workers, seed=seed, start_batch=start_batch)
