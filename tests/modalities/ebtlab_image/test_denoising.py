"""Image denoising end to end: the shipped config, evaluation at two noise levels, and `ebtlab compare`."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchvision.io import decode_png, read_file

from ebtlab.compare import compare
from ebtlab.config import build_config, load_config
from ebtlab.errors import ConfigError
from ebtlab.run import fit, prepare_modality
from ebtlab.think import think

from tiny import IMAGE_CONFIGS, TINY_IMAGE_OVERRIDES, TINY_IMAGE_VALUES, merge

LEVELS = ("noise_0.1", "noise_0.2")


@pytest.fixture(scope="module")
def denoising_run(tmp_path_factory):
    """A tiny fit of the shipped denoising config, the only one."""
    paths = [path for path in IMAGE_CONFIGS if path.name.startswith("denoise")]
    assert [path.name for path in paths] == ["denoise_compare.yaml"]
    config, modality_class = load_config(paths[0], [f"runs_dir={tmp_path_factory.mktemp('runs')}", *TINY_IMAGE_OVERRIDES])
    return fit(config, prepare_modality(config, modality_class))


def test_denoising_config_evaluates_both_levels(denoising_run):
    run_dir, metrics = denoising_run
    assert metrics["train/steps"] == 2
    for level in LEVELS:
        for name in ("loss", "psnr", "mse", "noisy_psnr", "noisy_mse"):
            assert f"val/{name}_{level}" in metrics
        assert metrics[f"val/network_evaluations_{level}"] == 2.0  # two descent steps, one candidate
    assert metrics["val/loss"] == metrics["val/loss_noise_0.1"]
    assert metrics["val/psnr"] == metrics["val/psnr_noise_0.1"]
    # Twice the noise is harder to undo.
    assert metrics["val/noisy_psnr_noise_0.2"] < metrics["val/noisy_psnr_noise_0.1"]


def test_denoising_run_logs_noisy_denoised_clean_rows(denoising_run):
    run_dir, _ = denoising_run
    picture = decode_png(read_file(str(run_dir / "samples" / "val_step_2.png")))
    assert picture.shape == (3, 3 * 30 + 2, 4 * 30 + 2)  # rows: noisy, denoised, clean; 4 images of 28 pixels, padding 2
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert "val/sample_image" in events.Tags()["images"]


def test_compare_denoising_on_images(tmp_path, image_modality):
    values = merge(TINY_IMAGE_VALUES, {"runs_dir": str(tmp_path), "model": {"architecture": "denoising_ebt"}, "denoising": {"sampling_steps": 3}})
    config, _ = build_config(values)
    run_dir, report = compare(config, image_modality)
    assert set(report["models"]) == {"denoising_ebt", "diffusion"}
    for name, model in report["models"].items():
        assert model["units_seen"] == 4 * 4 * 16  # 4 steps of 4 whole images of 16 patches
        assert model["flops_per_step"] > 0
    assert report["models"]["diffusion"]["validation"]["network_evaluations_noise_0.2"] == 3.0
    assert report["models"]["denoising_ebt"]["validation"]["network_evaluations_noise_0.2"] == 2.0
    table = (run_dir / "compare.md").read_text()
    assert "Noise level 0.1:" in table
    assert "Noise level 0.2:" in table
    assert "| model | loss | mse | network_evaluations | noisy_mse | noisy_psnr | psnr |" in table
    assert json.loads((run_dir / "compare.json").read_text())["models"].keys() == report["models"].keys()
    picture = decode_png(read_file(str(run_dir / "compare_denoising.png")))
    # Per level, rows of noisy, EBT, diffusion and clean images: 8 rows of 4 validation images.
    assert picture.shape == (3, 8 * 30 + 2, 4 * 30 + 2)


def test_think_on_denoising_ebt(denoising_run, tmp_path):
    run_dir, metrics = denoising_run
    think_dir, report = think(run_dir / "checkpoints" / "last.ckpt", [f"runs_dir={tmp_path}"], steps=[1, 3], candidates=[1, 2])
    assert report["score"] == "loss"  # images have no perplexity; gains compare the smooth-L1 loss
    result = report["sets"]["validation"]
    assert set(result["losses"]) == {f"steps={k},candidates={n}" for k in (1, 2, 3) for n in (1, 2)}
    # The default point, 2 steps and 1 candidate, is validation at the training level.
    assert result["losses"]["steps=2,candidates=1"] == pytest.approx(metrics["val/loss"], rel=1e-5)
    assert len(result["scatter"]["energy"]) == 4  # one energy per image of the one validation batch
    assert (think_dir / "think.md").is_file()
    assert (think_dir / "think_confidence.png").is_file()


def test_think_rejects_diffusion_checkpoint(tmp_path, image_modality):
    config, _ = build_config(merge(TINY_IMAGE_VALUES, {"runs_dir": str(tmp_path), "model": {"architecture": "diffusion"}, "trainer": {"max_steps": 1, "val_every_n_steps": 1}, "denoising": {"sampling_steps": 2}}))
    run_dir, _ = fit(config, image_modality)
    with pytest.raises(ConfigError, match="think does not evaluate diffusion models"):
        think(run_dir / "checkpoints" / "last.ckpt", [], steps=[1], candidates=[1])
