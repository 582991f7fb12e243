import json
import wave

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebtlab.cli import main
from ebtlab.config import build_config, load_config
from ebtlab.run import build_model, fit, prepare_modality, validate

from tiny import CONFIGS, TINY_RUN_OVERRIDES, merge

AUDIO_CONFIGS = sorted((CONFIGS / "audio").glob("*.yaml"))
# Shrinks a shipped config: the tiny run on 16 frames of 16 mel bins.
TINY_OVERRIDES = [*TINY_RUN_OVERRIDES, "data.n_mels=16", "data.context_length=16", "data.batch_size=4"]


@pytest.fixture(scope="module")
def audio_runs(tmp_path_factory, audio_folder):
    """A tiny fit of every shipped audio config on the synthetic recordings, keyed by the config's file name."""
    runs_dir = tmp_path_factory.mktemp("runs")
    runs = {}
    for path in AUDIO_CONFIGS:
        config, modality_class = load_config(path, [f"runs_dir={runs_dir}", f"data.path={audio_folder}", *TINY_OVERRIDES])
        runs[path.name] = fit(config, prepare_modality(config, modality_class))
    return runs


def test_shipped_audio_configs_fit(audio_runs):
    assert set(audio_runs) == {"compare.yaml", "ebt_s1.yaml", "transformer.yaml"}
    for name, (run_dir, metrics) in audio_runs.items():
        assert metrics["train/steps"] == 2, name
        for key in ("val/loss", "val/mse", "val/mean_frame_loss", "val/previous_frame_loss"):
            assert torch.isfinite(torch.tensor(metrics[key])), (name, key)
        assert json.loads((run_dir / "metrics.json").read_text()) == metrics


def test_fit_writes_spectrograms_and_sound(audio_runs):
    for name in ("ebt_s1.yaml", "transformer.yaml"):
        run_dir, _ = audio_runs[name]
        assert (run_dir / "samples" / "val_step_2.png").is_file()
        with wave.open(str(run_dir / "samples" / "val_step_2.wav")) as file:
            assert (file.getframerate(), file.getnchannels(), file.getsampwidth()) == (8000, 1, 2)
            assert file.getnframes() == 2 * 16 * 128 + 2000  # real and predicted 17 frames, 0.25 s apart
        events = EventAccumulator(str(run_dir))
        events.Reload()
        assert "val/sample_image" in events.Tags()["images"]
        assert "val/sample_sound" in events.Tags()["audio"]


def test_audio_validate_reproduces_saved_metrics(audio_runs):
    run_dir, metrics = audio_runs["ebt_s1.yaml"]
    again = validate(run_dir / "checkpoints" / "last.ckpt", [])
    for key, value in again.items():
        assert value == pytest.approx(metrics[key], rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("config_name", ["ebt_s1.yaml", "transformer.yaml"])
def test_generate_writes_wav(audio_runs, audio_modality, tmp_path, monkeypatch, capsys, config_name):
    run_dir, _ = audio_runs[config_name]
    monkeypatch.chdir(tmp_path)
    prompt = audio_modality.recordings["validation"][0].name.removesuffix(".wav")
    argv = ["generate", "--checkpoint", str(run_dir / "checkpoints" / "last.ckpt"), "--prompt", prompt, "--max-new-units", "20", f"runs_dir={tmp_path}"]
    assert main(argv) == 0
    assert "36 log-mel frames of 16 bins" in capsys.readouterr().out
    report = json.loads((tmp_path / "generate" / "version_0" / "generate.json").read_text())
    assert report["files"] == ["generate.wav", "generate.png"]
    with wave.open(str(tmp_path / "generate" / "version_0" / "generate.wav")) as file:
        assert file.getframerate() == 8000
        assert file.getnframes() == (16 + 20 - 1) * 128  # the 16 prompt frames and 20 new ones


def test_generation_continues_prompt(audio_runs, audio_modality):
    from ebtlab.generate import generate
    from ebtlab.run import load_model

    model, _ = load_model(audio_runs["ebt_s1.yaml"][0] / "checkpoints" / "last.ckpt", [])
    prompt = audio_modality.windows["validation"][0, :8]
    generation = generate(model, prompt, new_units=4, temperature=0.0, seed=0)
    assert generation.units.shape == (12, 16)
    assert torch.equal(generation.units[:8], prompt)
    assert torch.isfinite(generation.units).all()
    assert len(generation.energies) == 4


def test_think_on_audio(audio_runs, tmp_path):
    from ebtlab.think import think

    run_dir, _ = audio_runs["ebt_s1.yaml"]
    baseline = audio_runs["transformer.yaml"][0] / "checkpoints" / "last.ckpt"
    out_dir, report = think(run_dir / "checkpoints" / "last.ckpt", [f"runs_dir={tmp_path}"], steps=[1, 2, 3], candidates=[1, 2], baseline=baseline)
    validation = report["sets"]["validation"]
    assert len(validation["losses"]) == 6
    assert "loss_gain_longer_and_verified_percent" in validation
    assert (out_dir / "think.md").is_file()


@pytest.mark.slow
def test_compare_on_audio(tmp_path, audio_values, audio_modality):
    from ebtlab.compare import compare

    config, _ = build_config(merge(audio_values, {"runs_dir": str(tmp_path), "trainer": {"max_steps": 2}}))
    run_dir, report = compare(config, audio_modality)
    assert report["modality"] == "audio"
    for name in ("ebt", "transformer"):
        model = report["models"][name]
        assert model["units_seen"] == 2 * 4 * 16
        assert {"loss", "mse", "mean_frame_loss", "previous_frame_loss"} <= set(model["validation"])
    assert "loss_gain_longer_percent" in report["thinking"]["sets"]["validation"]


def test_baseline_never_sees_later_frame(audio_modality, audio_values):
    config, _ = build_config(merge(audio_values, {"model": {"architecture": "transformer"}}))
    model = build_model(audio_modality, config).eval()
    observed = audio_modality.windows["validation"][:2, :16].clone()
    changed = observed.clone()
    changed[:, 9:] += 1.0
    with torch.no_grad():
        before, after = model(observed), model(changed)
    assert torch.equal(after[:, :9], before[:, :9])
    assert not torch.equal(after[:, 9], before[:, 9])
