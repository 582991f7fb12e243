import math

import pytest
import torch
from torch.nn import functional as F

from ebtlab.errors import ConfigError
from ebtlab_image import ImageDataConfig, ImageModality
from ebtlab_image.patches import patchify, to_signed_unit


def test_sequence_predicts_every_patch_but_first(image_modality):
    assert image_modality.patches_per_image == 16
    assert image_modality.context_length == 15
    batch = next(iter(image_modality.datamodule(seed=0).val_dataloader()))
    patches = patchify(to_signed_unit(image_modality.splits["validation"][:4]), 7)  # (4, 16, 49)
    assert torch.equal(batch["observed"], patches[:, :-1])
    assert torch.equal(batch["target"], patches[:, 1:])
    assert batch["observed"].min().item() >= -1.0
    assert batch["observed"].max().item() <= 1.0


def test_candidate_space_is_identity_then_linear(image_modality):
    space = image_modality.build_candidate_space(width=8)
    candidate = torch.randn(2, 3, 49)
    assert torch.equal(space.normalize(candidate), candidate)
    torch.testing.assert_close(space(candidate), candidate @ space.projection.weight.T)
    target = torch.zeros(2, 3, 49)
    first = space.initial(target, torch.Generator().manual_seed(0))
    assert first.shape == (2, 3, 49)
    assert torch.equal(first, space.initial(target, torch.Generator().manual_seed(0)))


def test_encoder_and_head_map_patches_to_width(image_modality):
    patches = torch.randn(2, 15, 49)
    hidden = image_modality.build_encoder(width=8)(patches)
    assert hidden.shape == (2, 15, 8)
    assert image_modality.build_prediction_head(width=8)(hidden).shape == (2, 15, 49)


def test_loss_is_smooth_l1(image_modality):
    target = torch.zeros(1, 2, 49)
    candidate = torch.zeros(1, 2, 49)
    candidate[0, 0, 0] = 2.0  # |d| >= 1: |d| - 0.5
    candidate[0, 1, 0] = 0.5  # |d| < 1: d^2 / 2
    expected = (1.5 + 0.125) / (2 * 49)
    assert image_modality.loss(candidate, target).item() == pytest.approx(expected)
    assert image_modality.scored_mask(target).all()


def test_psnr_and_mse_match_hand_computed_values(image_modality):
    target = torch.rand(2, 15, 49) * 2 - 1
    candidate = target.clone()
    candidate[0] += 0.1  # image 0: MSE 0.01, PSNR 10 log10(2^2 / 0.01)
    candidate[1] -= 0.2  # image 1: MSE 0.04, PSNR 10 log10(2^2 / 0.04) = 20 dB
    metrics = image_modality.metrics(candidate, target)
    assert metrics["mse"].item() == pytest.approx(0.025, rel=1e-4)
    first, second = 10 * math.log10(4 / 0.01), 20.0
    assert first == pytest.approx(26.0206, abs=1e-4)
    assert metrics["psnr"].item() == pytest.approx((first + second) / 2, rel=1e-4)


def test_mean_image_reference(image_modality):
    train = to_signed_unit(image_modality.splits["train"])
    mean_patches = patchify(train.mean(dim=0, keepdim=True), 7)[0, 1:]
    torch.testing.assert_close(image_modality.mean_patches, mean_patches)
    target = torch.randn(3, 15, 49)
    expected = F.smooth_l1_loss(mean_patches.expand(3, -1, -1), target)
    torch.testing.assert_close(image_modality.reference_losses(target)["mean_image_loss"], expected)


def test_render_shows_real_images_above_predictions(image_modality):
    batch = next(iter(image_modality.datamodule(seed=0).val_dataloader()))
    prediction = torch.full_like(batch["target"], 1.0)  # all white
    grid = image_modality.render(batch["observed"], batch["target"], prediction)
    assert grid.shape == (3, 2 + 2 * 30, 2 + 4 * 30)
    real_first = grid[0, 2:30, 2:30]
    predicted_first = grid[0, 32:60, 2:30]
    expected = (to_signed_unit(image_modality.splits["validation"][0]) + 1) / 2
    torch.testing.assert_close(real_first, expected)
    # Patch 0 (top left, 7x7) is given; every other pixel of the predicted image is white.
    torch.testing.assert_close(predicted_first[:7, :7], expected[:7, :7])
    assert predicted_first[7:].min().item() == 1.0


def test_state_keeps_resolved_source(image_modality):
    assert image_modality.source in ("fashion_mnist", "mnist_5k")
    assert image_modality.state_dict() == {"source": image_modality.source}
    restored = ImageModality(ImageDataConfig(patch_size=7))
    restored.prepare(state=image_modality.state_dict())
    assert torch.equal(restored.splits["validation"], image_modality.splits["validation"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"patch_size": 0}, "data.patch_size must be positive"),
        ({"batch_size": 0}, "data.batch_size must be positive"),
        ({"num_workers": -1}, "data.num_workers must be >= 0"),
        ({"source": "idx"}, "data.path is required for data.source=idx"),
        ({"source": "mnist_5k", "path": "images"}, "data.path is only read for data.source idx or folder"),
    ],
)
def test_rejects_impossible_data_config(values, message):
    with pytest.raises(ConfigError, match=message):
        ImageModality(ImageDataConfig(**values))


@pytest.mark.parametrize(("patch_size", "message"), [(5, "data.patch_size 5 does not divide the 28x28-pixel images"), (28, "leaves one patch per image")])
def test_rejects_patch_size_that_does_not_fit(patch_size, message):
    with pytest.raises(ConfigError, match=message):
        ImageModality(ImageDataConfig(source="mnist_5k", patch_size=patch_size)).prepare()
