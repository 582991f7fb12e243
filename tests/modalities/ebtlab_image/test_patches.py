import math

import pytest
import torch

from ebtlab_image.patches import image_grid, patchify, to_signed_unit, to_unit, unpatchify


@pytest.mark.parametrize("patch_size", [4, 7])
def test_patchify_round_trip(patch_size):
    images = torch.randn(3, 28, 28)
    patches = patchify(images, patch_size)
    assert patches.shape == (3, (28 // patch_size) ** 2, patch_size**2)
    assert torch.equal(unpatchify(patches, patch_size, 28, 28), images)


def test_patches_follow_raster_order():
    images = torch.arange(4 * 6, dtype=torch.float).reshape(1, 4, 6)
    patches = patchify(images, 2)
    # Patch 1 is the second patch of the top row: rows 0-1, columns 2-3.
    assert patches[0, 1].tolist() == [2.0, 3.0, 8.0, 9.0]
    # Patch 3 starts the second row of patches: rows 2-3, columns 0-1.
    assert patches[0, 3].tolist() == [12.0, 13.0, 18.0, 19.0]


def test_rectangular_round_trip():
    images = torch.randn(2, 8, 12)
    assert torch.equal(unpatchify(patchify(images, 4), 4, 8, 12), images)


def test_pixels_scale_to_signed_unit_range():
    pixels = torch.tensor([0, 255], dtype=torch.uint8)
    assert to_signed_unit(pixels).tolist() == [-1.0, 1.0]
    assert to_signed_unit(torch.tensor([51], dtype=torch.uint8)).item() == pytest.approx(-0.6)
    assert to_unit(torch.tensor([-3.0, 0.0, 1.0])).tolist() == [0.0, 0.5, 1.0]


def test_grid_stacks_rows_of_images():
    real, predicted = -torch.ones(3, 28, 28), torch.ones(3, 28, 28)
    grid = image_grid([real, predicted])
    # Two rows of three 28-pixel images, each with a 2-pixel border on both sides.
    assert grid.shape == (3, 2 + 2 * 30, 2 + 3 * 30)
    assert grid[:, 2:30, 2:30].max().item() == 0.0
    assert grid[:, 32:60, 2:30].min().item() == 1.0
    assert math.isclose(grid.max().item(), 1.0)
