"""Denoising log-mel frames: the denoising models on a modality with one-axis units and no pictures."""

from ebtlab.compare import compare
from ebtlab.config import build_config

from tiny import merge


def test_compare_denoising_on_audio(tmp_path, audio_values, audio_modality):
    values = merge(audio_values, {"runs_dir": str(tmp_path), "model": {"architecture": "denoising_ebt"}, "denoising": {"sampling_steps": 2}})
    config, _ = build_config(values)
    run_dir, report = compare(config, audio_modality)
    assert audio_modality.unit_grid == (17,)  # 16 observed frames and the last target on one axis
    for name in ("denoising_ebt", "diffusion"):
        validation = report["models"][name]["validation"]
        assert validation["loss_noise_0.2"] > 0
        assert validation["noisy_mse_noise_0.2"] > validation["noisy_mse_noise_0.1"]
    assert report["models"]["diffusion"]["validation"]["network_evaluations_noise_0.1"] == 2.0
    assert not (run_dir / "compare_denoising.png").exists()  # audio draws no pictures of sequences
