import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebtlab.compare import compare
from ebtlab.config import build_config, load_config
from ebtlab.run import build_model, fit, prepare_modality, validate
from ebtlab.think import think
from ebtlab_image.patches import patchify, to_signed_unit

from tiny import IMAGE_CONFIGS, TINY_IMAGE_OVERRIDES, TINY_IMAGE_VALUES, merge

# The shipped next-patch configs; the denoising ones are tested in test_denoising.py.
NEXT_PATCH_CONFIGS = [path for path in IMAGE_CONFIGS if not path.name.startswith("denoise")]


def make_model(image_modality, **changes):
    config, _ = build_config(merge(TINY_IMAGE_VALUES, changes))
    return build_model(image_modality, config)


def sequences_of(images: torch.Tensor) -> dict:
    """Next-patch batch of 8-bit images (B, H, W) with 7x7 patches."""
    patches = patchify(to_signed_unit(images), 7)
    return {"observed": patches[:, :-1], "target": patches[:, 1:]}


@pytest.mark.parametrize("changed_patch", [1, 7, 15])
def test_ebt_never_sees_later_patch(image_modality, changed_patch):
    model = make_model(image_modality)
    images = image_modality.splits["validation"][:2].clone()
    changed = images.clone()
    row, col = divmod(changed_patch, 4)
    changed[:, row * 7 : (row + 1) * 7, col * 7 : (col + 1) * 7] = 255 - changed[:, row * 7 : (row + 1) * 7, col * 7 : (col + 1) * 7]

    with torch.no_grad():
        before = model.think(sequences_of(images), model.thinking, torch.Generator().manual_seed(1))
        after = model.think(sequences_of(changed), model.thinking, torch.Generator().manual_seed(1))
    # Candidate i predicts patch i + 1 and may see patches 0..i, so candidates 0..changed_patch - 1 are blind to the change.
    seen = changed_patch
    for energy_before, energy_after in zip(before.energies, after.energies):
        torch.testing.assert_close(energy_after[:, :seen], energy_before[:, :seen], rtol=0, atol=0)
    torch.testing.assert_close(after.candidates[-1][:, :seen], before.candidates[-1][:, :seen], rtol=0, atol=0)
    if changed_patch < 15:
        assert not torch.equal(after.energies[0][:, seen], before.energies[0][:, seen])


def test_baseline_never_sees_later_patch(image_modality):
    model = make_model(image_modality, model={"architecture": "transformer"})
    images = image_modality.splits["validation"][:2].clone()
    changed = images.clone()
    changed[:, 7:14, :] = 255 - changed[:, 7:14, :]  # the second row of patches, patches 4..7
    with torch.no_grad():
        before = model(sequences_of(images)["observed"])
        after = model(sequences_of(changed)["observed"])
    assert torch.equal(after[:, :4], before[:, :4])
    assert not torch.equal(after[:, 4], before[:, 4])


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """A tiny fit of every shipped image config, keyed by the config's file name."""
    runs_dir = tmp_path_factory.mktemp("runs")
    runs = {}
    for path in NEXT_PATCH_CONFIGS:
        config, modality_class = load_config(path, [f"runs_dir={runs_dir}", *TINY_IMAGE_OVERRIDES])
        runs[path.name] = fit(config, prepare_modality(config, modality_class))
    return runs


def test_shipped_image_configs_fit(image_runs):
    assert set(image_runs) == {"ebt_s1.yaml", "transformer.yaml"}
    for name, (run_dir, metrics) in image_runs.items():
        assert metrics["train/steps"] == 2, name
        for key in ("val/loss", "val/mse", "val/psnr", "val/mean_image_loss"):
            assert torch.isfinite(torch.tensor(metrics[key])), (name, key)
        # One validation batch: the mean of per-image PSNRs is at least the PSNR of the mean MSE (Jensen).
        assert metrics["val/psnr"] >= 10 * math.log10(4.0 / metrics["val/mse"]) - 1e-4, name
        assert json.loads((run_dir / "metrics.json").read_text()) == metrics


def test_fit_writes_sample_images(image_runs):
    run_dir, _ = image_runs["ebt_s1.yaml"]
    assert (run_dir / "samples" / "val_step_2.png").is_file()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert "val/sample_image" in events.Tags()["images"]


def test_image_validate_reproduces_saved_metrics(image_runs):
    run_dir, metrics = image_runs["ebt_s1.yaml"]
    again = validate(run_dir / "checkpoints" / "last.ckpt", [])
    for key, value in again.items():
        assert value == pytest.approx(metrics[key], rel=1e-5, abs=1e-6), key


def test_compare_on_images(tmp_path, image_modality):
    config, _ = build_config(merge(TINY_IMAGE_VALUES, {"runs_dir": str(tmp_path), "trainer": {"max_steps": 2}}))
    run_dir, report = compare(config, image_modality)
    assert report["modality"] == "image"
    for name in ("ebt", "transformer"):
        model = report["models"][name]
        assert model["units_seen"] == 2 * 4 * 15
        assert {"loss", "mse", "psnr", "mean_image_loss"} <= set(model["validation"])
    assert "val/psnr" in (run_dir / "compare.md").read_text()


def test_think_on_next_patch_ebt(image_runs, tmp_path):
    run_dir, _ = image_runs["ebt_s1.yaml"]
    baseline_dir, _ = image_runs["transformer.yaml"]
    overrides = [f"runs_dir={tmp_path}", "trainer.limit_val_batches=3"]
    think_dir, report = think(
        run_dir / "checkpoints" / "last.ckpt", overrides, steps=[1, 2, 3], candidates=[1, 2], baseline=baseline_dir / "checkpoints" / "last.ckpt"
    )
    result = report["sets"]["validation"]
    assert report["score"] == "loss"
    # Every batch's first candidate starts where validation starts, so the default point is validation.
    validation = validate(run_dir / "checkpoints" / "last.ckpt", overrides)
    assert result["losses"]["steps=2,candidates=1"] == pytest.approx(validation["val/loss"], rel=1e-5)
    assert len(result["scatter"]["energy"]) == 3 * 4 * 15  # one energy per predicted patch
    assert "baseline" in report
    assert "| validation | " in (think_dir / "think.md").read_text()


def test_random_step_size_per_patch(image_modality):
    model = make_model(image_modality, ebt={"random_step_size": True, "step_size_learnable": False})
    batch = sequences_of(image_modality.splits["validation"][:3])
    step_sizes = model.training_step_size(batch["target"])
    assert step_sizes.shape == (3, 15, 1)  # one step size per predicted patch, broadcast over its pixels
