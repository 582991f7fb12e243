import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebtlab.config import build_config
from ebtlab.sampler import ResumableBatchSampler
from ebtlab_text import TextModality
from ebtlab_text.corpus import king_james_chapters
from ebtlab_text.data import IGNORE_INDEX

from tiny import TINY_VALUES, fit_values, merge

STEPS = 8


def training_losses(run_dir: Path) -> dict[int, float]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {event.step: event.value for event in events.Scalars("train/loss")}


def steps_before_padding(values: dict) -> int:
    """Return how many training steps come before the first global batch with the padded last window.

    Each process averages the loss over its own scored tokens, so in a batch with padding
    the processes' means are weighted equally instead of by their token counts.
    """
    config, _ = build_config(values)
    modality = TextModality(config.data)
    modality.prepare()
    windows = modality.datamodule(seed=config.seed).datasets["train"]
    padded = len(windows) - 1 if (windows[len(windows) - 1]["target"] == IGNORE_INDEX).any() else None
    batches = ResumableBatchSampler(len(windows), config.data.batch_size, seed=config.seed)
    for step, batch in enumerate(batches):
        if padded in batch:
            return step
    return len(batches)


@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process(tmp_path):
    corpus = tmp_path / "kjv.txt"
    corpus.write_text("\n\n".join(chapter[:400] for chapter in king_james_chapters()[:20]), encoding="utf-8")
    # A long warm-up keeps the learning rate low, so the runs stay comparable step after step.
    single = merge(
        TINY_VALUES,
        {
            "experiment": "single",
            "runs_dir": str(tmp_path / "runs"),
            "optim": {"warmup_steps": 1000},
            "trainer": {"max_steps": STEPS, "val_every_n_steps": STEPS, "limit_val_batches": 2},
            "data": {"files": [str(corpus)], "batch_size": 4},
        },
    )
    compared_steps = min(STEPS, steps_before_padding(single))
    assert compared_steps >= 4

    distributed = merge(single, {"experiment": "ddp", "trainer": {"devices": 2, "strategy": "ddp"}, "data": {"batch_size": 2}})
    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(yaml.safe_dump(distributed))
    script = Path(sys.executable).parent / "ebtlab"
    start = time.perf_counter()
    result = subprocess.run([str(script), "fit", "--config", str(config_file)], capture_output=True, text=True, timeout=600)
    ddp_seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stderr

    single_dir, _ = fit_values(single)
    reference = training_losses(single_dir)
    losses = training_losses(tmp_path / "runs" / "ddp" / "version_0")
    assert sorted(losses) == sorted(reference) == list(range(STEPS))
    for step in range(compared_steps):
        assert losses[step] == pytest.approx(reference[step], rel=1e-5), f"step {step}; the DDP run took {ddp_seconds:.0f} s"
