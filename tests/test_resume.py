import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebtlab.checkpoint import read_checkpoint
from ebtlab.cli import main
from ebtlab.errors import CheckpointError, ConfigError
from ebtlab.resume import check_run_folder, checkpoint_to_resume, newest_checkpoint, resumed_config

from tiny import TINY_VALUES, fit_values, merge

# Seconds to wait for the killed run's checkpoint saves before giving up.
CHECKPOINT_TIMEOUT_S = 120


def small_values(runs_dir: Path, corpus: Path) -> dict:
    return merge(
        TINY_VALUES,
        {
            "runs_dir": str(runs_dir),
            "trainer": {"max_steps": 24, "val_every_n_steps": 3, "limit_val_batches": 1},
            "data": {"files": [str(corpus)]},
        },
    )


def training_losses(events_files: list[Path]) -> dict[int, float]:
    losses = {}
    for path in events_files:
        events = EventAccumulator(str(path))
        events.Reload()
        if "train/loss" in events.Tags()["scalars"]:
            losses.update({event.step: event.value for event in events.Scalars("train/loss")})
    return losses


def test_killed_run_resumes_with_same_losses(tmp_path, small_corpus):
    values = small_values(tmp_path / "reference", small_corpus)
    reference_dir, _ = fit_values(values)
    reference = training_losses(list(reference_dir.glob("events.out.tfevents.*")))
    assert sorted(reference) == list(range(24))

    # The same run in a separate process, killed with SIGKILL at a random point: a short random
    # time after a random one of its first checkpoint saves, which come every 3 steps.
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(small_values(tmp_path / "killed", small_corpus)))
    script = Path(sys.executable).parent / "ebtlab"
    process = subprocess.Popen([str(script), "fit", "--config", str(config_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "killed" / "tiny" / "version_0"
    last = run_dir / "checkpoints" / "last.ckpt"
    saves_before_kill = random.randint(1, 4)
    delay = random.uniform(0.0, 0.3)
    saves, last_seen = 0, None
    deadline = time.monotonic() + CHECKPOINT_TIMEOUT_S
    while saves < saves_before_kill:
        assert process.poll() is None, f"the run ended after {saves} checkpoint saves"
        assert time.monotonic() < deadline, "too few checkpoint saves within the timeout"
        seen = last.stat().st_mtime_ns if last.exists() else None
        if seen != last_seen:
            saves, last_seen = saves + 1, seen
        time.sleep(0.01)
    time.sleep(delay)
    assert process.poll() is None, f"the run finished before the kill {delay:.2f} s after save {saves}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    when = f"killed {delay:.2f} s after checkpoint save {saves}"

    resumed_from = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"]
    assert main(["fit", "--resume", str(run_dir)]) == 0
    # Event file names end in <host>.<process id>.<n>; the resumed run ran in this process.
    resumed = training_losses([path for path in run_dir.glob("events.out.tfevents.*") if f".{os.getpid()}." in path.name])
    assert sorted(resumed) == list(range(resumed_from, 24)), when
    for step, loss in resumed.items():
        assert loss == pytest.approx(reference[step], rel=1e-5), f"step {step}, resumed from step {resumed_from}, {when}"


def test_resume_auto_picks_newest_run(tmp_path):
    for version in (0, 1):
        (tmp_path / "tiny" / f"version_{version}" / "checkpoints").mkdir(parents=True)
        (tmp_path / "tiny" / f"version_{version}" / "checkpoints" / "last.ckpt").touch()
    assert newest_checkpoint(tmp_path, "tiny") == tmp_path / "tiny" / "version_1" / "checkpoints" / "last.ckpt"


def test_resume_auto_without_runs(tmp_path):
    with pytest.raises(CheckpointError, match="no run of experiment 'tiny' under .* to resume"):
        newest_checkpoint(tmp_path, "tiny")


def test_resume_auto_newest_run_without_checkpoint(tmp_path):
    (tmp_path / "tiny" / "version_0" / "checkpoints").mkdir(parents=True)
    (tmp_path / "tiny" / "version_0" / "checkpoints" / "last.ckpt").touch()
    (tmp_path / "tiny" / "version_1").mkdir()
    with pytest.raises(CheckpointError, match="the newest run .*version_1 has no checkpoints/last.ckpt"):
        newest_checkpoint(tmp_path, "tiny")


def test_resume_auto_reads_location_overrides(tmp_path):
    (tmp_path / "other" / "version_0" / "checkpoints").mkdir(parents=True)
    (tmp_path / "other" / "version_0" / "checkpoints" / "last.ckpt").touch()
    path, overrides = checkpoint_to_resume("auto", None, [f"runs_dir={tmp_path}", "experiment=other", "trainer.max_steps=9"])
    assert path == tmp_path / "other" / "version_0" / "checkpoints" / "last.ckpt"
    assert overrides == ["trainer.max_steps=9"]


def test_resume_path_rejects_config_file(tmp_path):
    with pytest.raises(ConfigError, match="--config cannot be combined with --resume"):
        checkpoint_to_resume(str(tmp_path), Path("configs/default.yaml"), [])


def test_resume_run_folder_means_last_checkpoint(tmp_path):
    path, _ = checkpoint_to_resume(str(tmp_path), None, [])
    assert path == tmp_path / "checkpoints" / "last.ckpt"


def test_resume_needs_checkpoint_in_run_folder(tmp_path):
    with pytest.raises(CheckpointError, match="must be in <run folder>/checkpoints/"):
        check_run_folder(tmp_path / "copy.ckpt")


def test_resumed_config_allows_only_trainer_keys(tiny_values):
    checkpoint = {"ebtlab": {"config": tiny_values}, "global_step": 2}
    config, _ = resumed_config(checkpoint, ["trainer.max_steps=9"])
    assert config.trainer.max_steps == 9
    with pytest.raises(ConfigError, match="cannot override optim when resuming"):
        resumed_config(checkpoint, ["optim.lr=0.1"])


def test_resumed_config_of_finished_run(tiny_values):
    checkpoint = {"ebtlab": {"config": tiny_values}, "global_step": 4}
    with pytest.raises(ConfigError, match="already trained 4 of trainer.max_steps=4 steps"):
        resumed_config(checkpoint, [])


def test_resumed_config_is_validated(tiny_values):
    tampered = merge(tiny_values, {"model": {"layers": "print('hello')"}})
    with pytest.raises(ConfigError, match="invalid config at model.layers"):
        resumed_config({"ebtlab": {"config": tampered}, "global_step": 0}, [])
