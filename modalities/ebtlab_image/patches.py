"""Grayscale images as sequences of square patches, and patch sequences back as image grids.

Notation: N images, H x W pixels, Q patch side in pixels, P = (H / Q) * (W / Q) patches per
image in raster order (left to right, then top to bottom), C = Q * Q pixels per patch.
"""

import torch
from torchvision.utils import make_grid

# Pixels are stored as 8-bit values and scaled linearly to [-1, 1], so the peak-to-peak range is 2.
PIXEL_MAX = 255
PIXEL_RANGE = 2.0


def to_signed_unit(pixels: torch.Tensor) -> torch.Tensor:
    """Scale 8-bit pixels 0..255 to floats in [-1, 1]."""
    return pixels.float() * (PIXEL_RANGE / PIXEL_MAX) - 1.0


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Map pixels in [-1, 1] to [0, 1], clamping predictions that fall outside the range."""
    return ((images + 1.0) / PIXEL_RANGE).clamp(0.0, 1.0)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images (N, H, W) into patch vectors (N, P, C) in raster order."""
    n, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    patches = images.reshape(n, rows, patch_size, cols, patch_size)  # (N, H/Q, Q, W/Q, Q)
    patches = patches.permute(0, 1, 3, 2, 4)  # (N, H/Q, W/Q, Q, Q)
    return patches.reshape(n, rows * cols, patch_size * patch_size)  # (N, P, C)


def unpatchify(patches: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Reassemble patch vectors (N, P, C) in raster order into images (N, H, W)."""
    n = patches.shape[0]
    rows, cols = height // patch_size, width // patch_size
    images = patches.reshape(n, rows, cols, patch_size, patch_size)  # (N, H/Q, W/Q, Q, Q)
    images = images.permute(0, 1, 3, 2, 4)  # (N, H/Q, Q, W/Q, Q)
    return images.reshape(n, height, width)  # (N, H, W)


def image_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    """Lay out equally long rows of images (N, H, W) in [-1, 1] as one RGB grid (3, H', W') in [0, 1]."""
    images = torch.cat(rows)[:, None]  # (rows * N, 1, H, W)
    return make_grid(to_unit(images), nrow=rows[0].shape[0], padding=2, pad_value=1.0)
