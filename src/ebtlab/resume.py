"""Resuming a training run: which checkpoint to continue, and with which config.

A resumed run continues in the run folder of its checkpoint with the config stored in that
checkpoint. Lightning restores the weights, the optimizer, the learning-rate schedule and
the loop counters. The training data order follows from the restored global step (see
`ebtlab.sampler`), and `ebtlab.random_state.RandomStateCallback` restores the random
generators. Together they make the resumed run train on the same batches with the same
random draws as an uninterrupted run.
"""

from pathlib import Path

from omegaconf import OmegaConf

from ebtlab.checkpoint import RUN_STATE_KEY
from ebtlab.config import RunConfig, build_config, load_config, parse_overrides
from ebtlab.errors import CheckpointError, ConfigError
from ebtlab.modality import Modality
from ebtlab.run import next_run_dir

# The value of `--resume` that picks the newest run of the configured experiment.
AUTO = "auto"
# Top-level config keys that `--resume auto` reads to find the experiment's runs.
LOCATION_KEYS = ("experiment", "runs_dir")


def newest_checkpoint(runs_dir: Path, experiment: str) -> Path:
    """Return checkpoints/last.ckpt of the newest run of `experiment` under `runs_dir`."""
    following = next_run_dir(runs_dir, experiment)
    version = int(following.name.removeprefix("version_")) - 1
    if version < 0:
        raise CheckpointError(f"no run of experiment {experiment!r} under {runs_dir} to resume; start one without --resume")
    newest = following.with_name(f"version_{version}")
    checkpoint = newest / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise CheckpointError(f"the newest run {newest} has no checkpoints/last.ckpt to resume from")
    return checkpoint


def checkpoint_to_resume(resume: str, config_path: Path | None, overrides: list[str]) -> tuple[Path, list[str]]:
    """Return the checkpoint that `--resume` names and the overrides for its stored config.

    `resume` is "auto" (the newest run of the experiment that `config_path` and `overrides`
    configure), a checkpoint file, or a run folder (its checkpoints/last.ckpt).
    """
    if resume == AUTO:
        config, _ = load_config(config_path, overrides)
        checkpoint = newest_checkpoint(Path(config.runs_dir), config.experiment)
        location = [item for item in overrides if item.split("=", 1)[0] in LOCATION_KEYS]
        return checkpoint, [item for item in overrides if item not in location]
    if config_path is not None:
        raise ConfigError(
            f"--config cannot be combined with --resume {resume}: a resumed run keeps the config stored in its "
            "checkpoint (use --resume auto to find the newest run of a config's experiment)"
        )
    path = Path(resume)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    return path, overrides


def resumed_config(checkpoint: dict, overrides: list[str]) -> tuple[RunConfig, type[Modality]]:
    """Return the config stored in `checkpoint` with `trainer.*` overrides applied."""
    changes = parse_overrides(overrides)
    for key in changes:
        if key != "trainer":
            raise ConfigError(
                f"cannot override {key} when resuming: a resumed run keeps the config stored in its checkpoint, "
                "and only trainer.* keys may change"
            )
    values = OmegaConf.to_container(OmegaConf.merge(checkpoint[RUN_STATE_KEY]["config"], changes))
    config, modality_class = build_config(values)
    if checkpoint["global_step"] >= config.trainer.max_steps:
        raise ConfigError(
            f"the checkpoint has already trained {checkpoint['global_step']} of trainer.max_steps="
            f"{config.trainer.max_steps} steps; set a larger trainer.max_steps to continue training"
        )
    return config, modality_class



def check_run_folder(checkpoint_path: Path) -> None:
    """Reject a checkpoint outside <run folder>/checkpoints/, where a resumed run continues."""
    if checkpoint_path.parent.name != "checkpoints":
        raise CheckpointError(
            f"cannot resume from {checkpoint_path}: a resumed run continues in its run folder, so the checkpoint "
            "must be in <run folder>/checkpoints/"
        )
