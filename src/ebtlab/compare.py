"""`ebtlab compare`: train an EBT and its baseline on the same data and report both.

The baseline is built from the EBT's own config with the architecture that `BASELINES` names
for it: the autoregressive Transformer++ for `ebt`, the diffusion transformer for
`denoising_ebt`. Both models see the same modality, data order, batch size, number of steps
(hence units seen), optimiser settings and model size. The run folder
runs/<experiment>/version_<n>/ contains one ordinary run folder per model, named by
architecture, and the report: compare.md, compare.json and compare.png (validation loss
against training FLOPs and against units seen). Denoising models are also compared per noise
level, and compare_denoising.png shows noisy, denoised and clean sequences for each level.

After training, the EBT thinks on the validation split over a small grid of
descent steps and candidates, as `ebtlab think` does (see ebtlab.think), and the report gives
its thinking gains. `ebtlab think` measures the full grid and the modality's shifted sets.
"""

import dataclasses
import json
import logging
import time
from pathlib import Path

import lightning as L
import torch
from torchvision.io import write_png

from ebtlab.config import RunConfig
from ebtlab.cost import training_step_flops
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality
from ebtlab.models import BASELINES, DenoisingModel, EnergyBasedTransformer
from ebtlab.models.denoising import denoising_rows, level_suffix
from ebtlab.plotting import Panel, save_line_plots
from ebtlab.run import fit, next_run_dir
from ebtlab.think import add_gains, evaluate_ebt_grid, score_of

log = logging.getLogger(__name__)

# Sequences per row of compare_denoising.png.
PICTURED_SEQUENCES = 8
# The thinking grid of compare, smaller than the default of `ebtlab think` (1,2,3,4,6 steps and
# 1,2,4,8 candidates) so that it adds little to the training time. The trained number of steps
# is always added.
THINKING_STEPS = (1, 2, 3, 4)
THINKING_CANDIDATES = (1, 4)


class TrainingCost(L.Callback):
    """Count the FLOPs of the first training step and record cost and loss at every validation.

    Training batches all have one shape (the data modules drop the last, smaller batch), so the
    FLOPs of every step equal those counted on the first batch.
    """

    def __init__(self):
        self.model: L.LightningModule | None = None  # the trained model, kept for the thinking measurement
        self.flops_per_step: int | None = None
        self.units_seen = 0
        self.history: list[dict] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index) -> None:
        if self.flops_per_step is None:
            self.flops_per_step = training_step_flops(pl_module, batch)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.model = pl_module

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        self.units_seen += pl_module.units_in(batch)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or "val/loss" not in trainer.callback_metrics:
            return
        self.history.append(
            {
                "step": trainer.global_step,
                "units_seen": self.units_seen,
                "training_flops": self.flops_per_step * trainer.global_step,
                "val_loss": float(trainer.callback_metrics["val/loss"]),
            }
        )


def baseline_config(config: RunConfig) -> RunConfig:
    """Return the config of the baseline of an EBT config."""
    return dataclasses.replace(config, model=dataclasses.replace(config.model, architecture=BASELINES[config.model.architecture]))


def compare(config: RunConfig, modality: Modality) -> tuple[Path, dict]:
    """Train the EBT of `config` and its baseline on a prepared modality; write and return the report."""
    if config.model.architecture not in BASELINES:
        raise ConfigError(
            f"model.architecture: compare trains an EBT and derives its baseline, so the config must name "
            f"architecture {' or '.join(BASELINES)}, not {config.model.architecture!r}"
        )
    if modality.build_prediction_head(config.model.shape().width) is None:
        raise ConfigError(f"modality {modality.name!r} provides no direct prediction head, so it has no baseline to compare with")

    run_dir = next_run_dir(Path(config.runs_dir), config.experiment)
    models, trained = {}, {}
    for model_config in (config, baseline_config(config)):
        name = model_config.model.architecture
        log.info("compare: training the %s", name)
        cost = TrainingCost()
        start = time.perf_counter()
        _, metrics = fit(model_config, modality, run_dir=run_dir / name, callbacks=[cost])
        models[name] = {
            "parameters": metrics["model/parameters"],
            "steps": metrics["train/steps"],
            "units_seen": cost.units_seen,
            "flops_per_step": cost.flops_per_step,
            "training_flops": cost.flops_per_step * metrics["train/steps"],
            "train_wall_time_s": metrics["train/wall_time_s"],
            "total_wall_time_s": round(time.perf_counter() - start, 1),
            "validation": {name.removeprefix("val/"): value for name, value in metrics.items() if name.startswith("val/")},
            "history": cost.history,
        }
        trained[name] = cost.model

    log.info("compare: thinking of the %s on the validation split", config.model.architecture)
    thinking = validation_thinking(trained[config.model.architecture], config)
    report = {"experiment": config.experiment, "modality": modality.name, "models": models, "thinking": thinking}
    (run_dir / "compare.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tables = [comparison_table(models), *(level_table(models, level) for level in noise_levels(config)), thinking_summary(thinking)]
    (run_dir / "compare.md").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    save_line_plots(run_dir / "compare.png", comparison_panels(models))
    if noise_levels(config):
        save_denoising_picture(run_dir / "compare_denoising.png", [trained[name] for name in models], modality, config)
    return run_dir, report


def noise_levels(config: RunConfig) -> list[float]:
    """Return the evaluated noise levels of a denoising comparison, or none for next-unit prediction."""
    return config.denoising.evaluation_levels() if config.model.architecture == "denoising_ebt" else []


def save_denoising_picture(path: Path, models: list[DenoisingModel], modality: Modality, config: RunConfig) -> None:
    """Write a PNG of, per noise level, rows of noisy, EBT, baseline and clean validation sequences."""
    batch = next(iter(modality.datamodule(seed=config.seed).val_dataloader()))
    batch = {name: tensor[:PICTURED_SEQUENCES] for name, tensor in batch.items()}
    rows = [row for level in noise_levels(config) for row in denoising_rows([model.eval() for model in models], batch, level, config.seed)]
    picture = modality.render_sequences(rows)
    if picture is not None:
        write_png((picture * 255).round().to(torch.uint8), str(path))


def validation_thinking(model: EnergyBasedTransformer, config: RunConfig) -> dict:
    """Score a trained EBT on its validation split over the compare grid; return the losses and gains."""
    model.eval()
    default_steps = model.thinking_steps(config.thinking)
    steps = sorted(set(THINKING_STEPS) | {default_steps})
    candidates = list(THINKING_CANDIDATES)
    batches = model.modality.datamodule(seed=config.seed).val_dataloader()
    result = evaluate_ebt_grid(
        model, batches, steps=steps, candidates=candidates, default_steps=default_steps, max_batches=config.trainer.limit_val_batches, seed=config.seed
    )
    thinking = {
        "steps": steps,
        "candidates": candidates,
        "default_steps": default_steps,
        "score": score_of(model.modality, 0.0)[0],
        "sets": {"validation": result},
    }
    add_gains(thinking, model.modality)
    result.pop("scatter")
    return thinking


def thinking_summary(thinking: dict) -> str:
    """Format the EBT's thinking on the validation split as markdown: the three compared points and the gains."""
    result = thinking["sets"]["validation"]
    rows = ["| EBT on the validation split | descent steps and candidates | loss |", "|---|---|---|"]
    for point, key in thinking["chosen"].items():
        rows.append(f"| {point.replace('_', ' ')} | {key.replace(',', ', ')} | {result['losses'][key]:.4f} |")
    gains = f"Thinking gain in loss: {result['loss_gain_longer_percent']:.2f}% longer, {result['loss_gain_longer_and_verified_percent']:.2f}% longer and verified"
    if thinking["score"] != "loss":
        gains += f"; in {thinking['score']}: {result['gain_longer_percent']:.2f}% and {result['gain_longer_and_verified_percent']:.2f}%"
    rows += ["", gains + "."]
    return "\n".join(rows)


def comparison_table(models: dict[str, dict]) -> str:
    """Format the models' final validation metrics and costs as a markdown table."""
    shared = [
        name
        for name in next(iter(models.values()))["validation"]
        if all(name in model["validation"] for model in models.values()) and "_noise_" not in name
    ]
    header = ["model", "parameters", *(f"val/{name}" for name in shared), "training FLOPs", "FLOPs per step", "steps", "units seen", "training time (s)"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, model in models.items():
        cells = [
            name,
            f"{model['parameters']:,}",
            *(f"{model['validation'][metric]:.4f}" for metric in shared),
            f"{model['training_flops']:.3e}",
            f"{model['flops_per_step']:.3e}",
            str(model["steps"]),
            f"{model['units_seen']:,}",
            f"{model['train_wall_time_s']:.1f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def level_table(models: dict[str, dict], level: float) -> str:
    """Format the models' validation metrics at one noise level, such as psnr_noise_0.2, as a markdown table."""
    suffix = "_" + level_suffix(level)
    metrics = [
        name.removesuffix(suffix)
        for name in next(iter(models.values()))["validation"]
        if name.endswith(suffix) and all(name in model["validation"] for model in models.values())
    ]
    rows = [f"Noise level {level:g}:", "", "| model | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for name, model in models.items():
        cells = [f"{model['validation'][metric + suffix]:.4g}" for metric in metrics]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def comparison_panels(models: dict[str, dict]) -> list[Panel]:
    """Return the two plots of the report: validation loss against training FLOPs and against units seen."""
    by_flops = Panel("validation loss against training compute", "training FLOPs", "validation loss", x_log=True)
    by_units = Panel("validation loss against data", "units seen (tokens, patches or frames)", "validation loss")
    for name, model in models.items():
        losses = [point["val_loss"] for point in model["history"]]
        by_flops.series[name] = ([point["training_flops"] for point in model["history"]], losses)
        by_units.series[name] = ([point["units_seen"] for point in model["history"]], losses)
    return [by_flops, by_units]
