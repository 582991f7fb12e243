"""Run folders, trainers, and the `fit` and `validate` workflows behind the command line.

Each run writes runs/<experiment>/version_<n>/ with config.yaml, TensorBoard events,
checkpoints/last.ckpt and checkpoints/best.ckpt, the modality's files (a tokenizer, say),
and metrics.json with the final validation metrics.
"""

import json
import logging
import os
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from ebtlab.checkpoint import RUN_STATE_KEY, AtomicCheckpointIO, RunStateCallback, read_checkpoint
from ebtlab.config import RunConfig, TrainerConfig, build_config, parse_overrides, to_plain, to_yaml
from ebtlab.errors import CheckpointError, ConfigError, EbtlabError, first_line
from ebtlab.modality import Modality
from ebtlab.models import ARCHITECTURES, PredictionModel
from ebtlab.numerics import NonFiniteCheck
from ebtlab.random_state import RandomStateCallback

log = logging.getLogger(__name__)

# Gradient-norm clip of the published EBT recipe.
GRADIENT_CLIP = 1.0
# Characters of torch's list of mismatched weights kept in a checkpoint error.
MAX_REASON_LENGTH = 200
# Environment variable that hands the run folder to the processes Lightning launches for DDP.
RUN_DIR_VARIABLE = "EBTLAB_RUN_DIR"


def next_run_dir(runs_dir: Path, experiment: str) -> Path:
    """Return runs_dir/experiment/version_<n> with n one above the highest existing version."""
    experiment_dir = runs_dir / experiment
    versions = [
        int(match.group(1))
        for child in experiment_dir.glob("version_*")
        if (match := re.fullmatch(r"version_(\d+)", child.name))
    ]
    return experiment_dir / f"version_{max(versions, default=-1) + 1}"


def build_model(modality: Modality, config: RunConfig) -> PredictionModel:
    """Build the model that `model.architecture` names, for a prepared modality."""
    return ARCHITECTURES[config.model.architecture].from_config(modality, config)


def load_weights(model: PredictionModel, checkpoint: dict, checkpoint_path: Path) -> None:
    """Load a checkpoint's weights, naming the first mismatch when they do not fit the model."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        details = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        reason = details[0] if details else str(error).strip()
        if len(reason) > MAX_REASON_LENGTH:
            reason = reason[:MAX_REASON_LENGTH] + " ..."
        raise CheckpointError(f"checkpoint {checkpoint_path} does not fit the model of its config: {reason}") from None


def build_trainer(config: TrainerConfig, *, logger=False, callbacks=(), **overrides) -> L.Trainer:
    """Build a Lightning Trainer for an energy model.

    Inference mode stays off because energy descent needs gradients during evaluation.
    Lightning's distributed sampler stays off because `ResumableBatchSampler` gives each
    process its share of every global batch.
    """
    try:
        return L.Trainer(
            max_steps=config.max_steps,
            max_epochs=-1,
            val_check_interval=config.val_every_n_steps,
            check_val_every_n_epoch=None,
            limit_val_batches=config.limit_val_batches,
            log_every_n_steps=config.log_every_n_steps,
            accelerator=config.accelerator,
            devices=config.devices,
            strategy=config.strategy,
            use_distributed_sampler=False,
            gradient_clip_val=GRADIENT_CLIP,
            inference_mode=config.inference_mode,
            logger=logger,
            callbacks=list(callbacks),
            plugins=[AtomicCheckpointIO()],
            enable_model_summary=False,
            **overrides,
        )
    except (MisconfigurationException, ValueError) as error:
        raise ConfigError(f"invalid trainer settings: {first_line(error)}") from None


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm progress bar without the logger version, which the run folder already names."""

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class LastValidation(L.Callback):
    """Remember the global step and metrics of the most recent validation."""

    def __init__(self):
        self.step: int | None = None
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.step = trainer.global_step
        self.metrics = {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("val/")}


def prepare_modality(config: RunConfig, modality_class: type[Modality], state: dict | None = None) -> Modality:
    """Build the modality of a config and load its data, restoring data-derived `state` if given."""
    modality = modality_class(config.data)
    modality.prepare(state)
    return modality


def launched_process_run_dir() -> Path | None:
    """Return the run folder handed down by the first process, in a process Lightning launched for DDP."""
    # NOTE: this covers processes launched by Lightning on one machine. A cluster launcher
    # that starts every process itself does not hand the folder down.
    if int(os.environ.get("LOCAL_RANK", "0")) > 0 and RUN_DIR_VARIABLE in os.environ:
        return Path(os.environ[RUN_DIR_VARIABLE])
    return None


def fit(
    config: RunConfig,
    modality: Modality,
    *,
    run_dir: Path | None = None,
    callbacks: Sequence[L.Callback] = (),
    resume_from: Path | None = None,
) -> tuple[Path, dict]:
    """Train the configured model on a prepared modality; return the run folder and the final metrics.

    The run folder is the next runs/<experiment>/version_<n> unless `run_dir` names one. With
    `resume_from`, a checkpoint in <run folder>/checkpoints/, training continues in that run
    folder from the checkpoint's weights, optimizer, data position and random state; the
    modality must then be prepared with the checkpoint's modality state.
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    checkpoint = read_checkpoint(resume_from) if resume_from else None

    # Data, model and trainer are built before anything is written, so bad input leaves no run folder.
    datamodule = modality.datamodule(seed=config.seed, start_batch=checkpoint["global_step"] if checkpoint else 0)
    model = build_model(modality, config)
    if checkpoint:
        # Lightning loads the weights again when training starts; this names a mismatch in one line.
        load_weights(model, checkpoint, resume_from)
    log.info("model: %s, %s parameters", config.model.architecture, f"{model.parameter_count():,}")
    launched_run_dir = launched_process_run_dir()
    if launched_run_dir:
        run_dir = launched_run_dir
    elif resume_from:
        run_dir = resume_from.parent.parent
    else:
        run_dir = run_dir or next_run_dir(Path(config.runs_dir), config.experiment)
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/loss",
        mode="min",
        save_last=True,
        auto_insert_metric_name=False,
    )
    last_validation = LastValidation()
    logger = TensorBoardLogger(save_dir=run_dir.parent, name="", version=run_dir.name, default_hp_metric=False)
    trainer = build_trainer(
        config.trainer,
        logger=logger,
        callbacks=[
            checkpoints,
            last_validation,
            RunStateCallback(to_plain(config), modality.state_dict()),
            RandomStateCallback(config.seed),
            NonFiniteCheck(),
            LearningRateMonitor(logging_interval="step"),
            ProgressBar(),
            *callbacks,
        ],
        num_sanity_val_steps=0,
    )

    if not launched_run_dir:
        if not resume_from:
            try:
                run_dir.mkdir(parents=True)
            except FileExistsError:
                raise EbtlabError(f"run folder {run_dir} was created by another run in the meantime; start this run again") from None
            modality.save(run_dir)
        (run_dir / "config.yaml").write_text(to_yaml(config), encoding="utf-8")
        logger.log_hyperparams(to_plain(config))
        log.info("%s run folder: %s", "resuming in" if resume_from else "new", run_dir)

    start = time.perf_counter()
    os.environ[RUN_DIR_VARIABLE] = str(run_dir)
    try:
        with warnings.catch_warnings():
            # ResumableBatchSampler continues mid-epoch from the restored global step, which Lightning cannot see.
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
            # A resumed run writes its checkpoints to the folder that already contains them.
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            # Every process evaluates the whole validation split, so validation metrics agree without syncing.
            warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('val/")
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    finally:
        del os.environ[RUN_DIR_VARIABLE]
    if last_validation.step != trainer.global_step:
        trainer.validate(model, datamodule=datamodule, verbose=False)
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    wall_time = time.perf_counter() - start

    metrics = dict(sorted(last_validation.metrics.items()))
    metrics["train/wall_time_s"] = round(wall_time, 1)
    metrics["train/steps"] = trainer.global_step
    metrics["model/parameters"] = model.parameter_count()
    if trainer.is_global_zero:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return run_dir, metrics


def load_model(checkpoint_path: Path, overrides: list[str]) -> tuple[PredictionModel, RunConfig]:
    """Rebuild the model of a checkpoint, with its config plus `overrides`, and load its weights."""
    checkpoint = read_checkpoint(checkpoint_path)
    run_state = checkpoint[RUN_STATE_KEY]
    values = OmegaConf.to_container(OmegaConf.merge(run_state["config"], parse_overrides(overrides)))
    config, modality_class = build_config(values)
    stored = run_state["config"]["model"].get("architecture", "ebt")
    if config.model.architecture != stored:
        raise ConfigError(
            f"model.architecture: checkpoint {checkpoint_path} contains an {stored!r} model, "
            f"which cannot be loaded as {config.model.architecture!r}; drop the override"
        )
    modality = prepare_modality(config, modality_class, state=run_state["modality_state"])
    model = build_model(modality, config)
    load_weights(model, checkpoint, checkpoint_path)
    model.eval()
    return model, config


def validate(checkpoint_path: Path, overrides: list[str], *, split: str = "validation") -> dict:
    """Evaluate a checkpoint on its run's validation or test split; return the metrics."""
    model, config = load_model(checkpoint_path, overrides)
    trainer = build_trainer(config.trainer, enable_progress_bar=False, limit_test_batches=config.trainer.limit_val_batches)
    datamodule = model.modality.datamodule(seed=config.seed)
    evaluate = trainer.test if split == "test" else trainer.validate
    (metrics,) = evaluate(model, datamodule=datamodule, verbose=False)
    return dict(sorted(metrics.items()))
