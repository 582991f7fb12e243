import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebtlab.config import build_config, read_yaml
from ebtlab.errors import CheckpointError
from ebtlab.run import fit, next_run_dir, prepare_modality, validate


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny fit on the King James Bible, shared by the tests below."""
    from tiny import TINY_VALUES, merge

    values = merge(TINY_VALUES, {"runs_dir": str(tmp_path_factory.mktemp("runs")), "trainer": {"max_steps": 5}})
    config, modality_class = build_config(values)
    run_dir, metrics = fit(config, prepare_modality(config, modality_class))
    return run_dir, metrics


def test_fit_writes_run_folder(tiny_run):
    run_dir, metrics = tiny_run
    assert run_dir.name == "version_0"
    assert run_dir.parent.name == "tiny"
    for name in ("config.yaml", "metrics.json", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "tokenizer/tokenizer.json"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))


def test_saved_config_loads_back(tiny_run):
    run_dir, _ = tiny_run
    saved, _ = build_config(read_yaml(run_dir / "config.yaml"))
    assert saved.trainer.max_steps == 5
    assert saved.data.vocab_size == 300
    assert saved.runs_dir == str(run_dir.parents[1])


def test_metrics_json_has_flat_keys(tiny_run):
    run_dir, metrics = tiny_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == metrics
    for key in ("val/loss", "val/loss_step_1", "val/loss_step_2", "val/perplexity", "val/energy_step_1", "val/energy_step_2", "val/unigram_loss", "val/accuracy", "train/wall_time_s", "model/parameters"):
        assert key in saved, key
    assert saved["val/loss"] == saved["val/loss_step_2"]
    assert saved["train/steps"] == 5
    assert saved["val/perplexity"] == pytest.approx(torch.tensor(saved["val/loss"]).exp().item(), rel=1e-5)


def test_validate_reproduces_saved_metrics(tiny_run):
    run_dir, metrics = tiny_run
    again = validate(run_dir / "checkpoints" / "last.ckpt", [])
    for key, value in again.items():
        assert value == pytest.approx(metrics[key], rel=1e-5, abs=1e-6), key


def test_test_split_metrics(tiny_run):
    run_dir, _ = tiny_run
    metrics = validate(run_dir / "checkpoints" / "last.ckpt", [], split="test")
    assert {"test/loss", "test/loss_step_1", "test/loss_step_2", "test/perplexity", "test/accuracy", "test/energy_step_2"} <= set(metrics)
    assert not any(key.startswith("val/") for key in metrics)
    # Perplexity is logged in float32, which overflows to inf above a loss of about 88.7 nats.
    expected = math.exp(metrics["test/loss"]) if metrics["test/loss"] < 88 else math.inf
    assert metrics["test/perplexity"] == pytest.approx(expected, rel=1e-5)


def test_validate_with_more_thinking(tiny_run):
    run_dir, _ = tiny_run
    metrics = validate(run_dir / "checkpoints" / "last.ckpt", ["thinking.descent_steps=3", "thinking.candidates=2"])
    assert "val/loss_step_3" in metrics
    assert metrics["val/loss"] == metrics["val/loss_step_3"]


def test_last_checkpoint_holds_final_weights(tiny_run):
    run_dir, _ = tiny_run
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 5
    assert checkpoint["ebtlab"]["config"]["trainer"]["max_steps"] == 5


def test_tensorboard_has_training_and_validation_scalars(tiny_run):
    run_dir, _ = tiny_run
    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_step_1", "train/step_size", "val/loss", "val/unigram_loss"} <= scalars
    assert {"lr-AdamW/network", "lr-AdamW/step_size"} <= scalars


def test_hyperparameters_saved_with_logs(tiny_run):
    run_dir, _ = tiny_run
    hyperparameters = read_yaml(run_dir / "hparams.yaml")
    assert hyperparameters["ebt"]["step_size"] == 500.0


def test_validate_rejects_mismatched_shape(tiny_run):
    run_dir, _ = tiny_run
    with pytest.raises(CheckpointError) as error:
        validate(run_dir / "checkpoints" / "last.ckpt", ["model.layers=2"])
    assert "does not fit the model of its config: Missing key(s)" in str(error.value)


def test_next_version_counts_up(tiny_run):
    run_dir, _ = tiny_run
    assert next_run_dir(run_dir.parents[1], "tiny").name == "version_1"


@pytest.mark.slow
def test_default_job_beats_unigram_reference(tmp_path):
    # The default model and recipe, shortened to 150 steps (about 2.5 minutes on 2 CPU cores).
    from ebtlab.config import load_config

    config, modality_class = load_config(None, [f"runs_dir={tmp_path}", "trainer.max_steps=150", "trainer.val_every_n_steps=150"])
    _, metrics = fit(config, prepare_modality(config, modality_class))
    assert metrics["val/loss"] < metrics["val/unigram_loss"] - 1.0
