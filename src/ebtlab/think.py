"""`ebtlab think`: how much extra inference compute improves a trained model's predictions.

For an EBT, every evaluation set is scored over a grid of descent steps K and candidates N.
One pass per batch gives the whole grid: N_max candidates descend K_max steps each, and after
the n-th candidate the best-of-n selection is scored at every K of the grid. Each grid point
therefore equals a separate evaluation with K steps and n candidates whenever the descent draws
no Langevin noise, and the random starts of a batch are the same for every point.

Network evaluations per prediction are counted as N * K: each descent step is one forward pass
of the energy network and one backward pass for the gradient with respect to the candidate.
Selecting among N > 1 candidates also evaluates the energy of each final candidate, one more
forward pass per candidate, which the count leaves out. The baseline makes one forward pass
per prediction whatever the budget, so it shows as a flat line.

Thinking gains compare a score on each set at three points. The score is the modality's first
summary metric of the loss (perplexity for text), or the loss itself where the modality has
none. The default is the model's trained number of steps with one candidate. Thinking longer uses the K that is best on the
in-distribution set, with one candidate. Thinking longer with self-verification uses the K and N
that are best on the in-distribution set. Choosing K and N on the in-distribution set alone
keeps the shifted sets out of the choice.
"""

import dataclasses
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import torch

from ebtlab.cli import DEFAULT_CANDIDATES, DEFAULT_STEPS
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality
from ebtlab.models import DenoisingModel, EnergyBasedTransformer, PredictionModel
from ebtlab.models.base import evaluation_generator
from ebtlab.plotting import Panel, save_line_plots, save_scatter_plot
from ebtlab.run import load_model, next_run_dir

log = logging.getLogger(__name__)

# Predictions drawn at random for the energy-against-loss scatter plot.
SCATTER_POINTS = 4000


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Return Spearman's rank correlation of two 1-D tensors (ties broken by position)."""
    return pearson_correlation(first.argsort().argsort().double(), second.argsort().argsort().double())


def pearson_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    first, second = first.double() - first.double().mean(), second.double() - second.double().mean()
    return float((first * second).sum() / (first.norm() * second.norm()))


def evaluate_ebt_grid(
    model: EnergyBasedTransformer,
    batches: Iterable[dict],
    *,
    steps: list[int],
    candidates: list[int],
    default_steps: int,
    max_batches: int | None,
    seed: int,
) -> dict:
    """Score one evaluation set over the steps x candidates grid; see the module docstring."""
    thinking = dataclasses.replace(model.thinking, descent_steps=max(steps), candidates=max(candidates))
    loss_sums = torch.zeros(len(steps), len(candidates), dtype=torch.float64)
    units = 0
    energies, losses = [], []
    for index, batch in enumerate(batches):
        if max_batches is not None and index >= max_batches:
            break
        # Validation's draws for this batch, so the grid's first candidate is validation's candidate.
        generator = evaluation_generator(seed, index, model.device)
        batch = model.evaluation_batch({name: tensor.to(model.device) for name, tensor in batch.items()}, generator)
        target = batch["target"]
        mask = model.modality.scored_mask(target)  # (B, S)
        if not mask.any():
            continue
        units += int(mask.sum())
        with torch.no_grad():
            for n, best in enumerate(model.think_candidates(batch, thinking, generator), start=1):
                if n == 1:
                    # Energy as confidence: the default evaluation's final energy and loss per prediction.
                    unit_losses = model.modality.unit_losses(best.candidates[default_steps - 1], target)  # (B, S)
                    energy, loss = prediction_losses(best.energies[default_steps - 1], unit_losses, mask)
                    energies.append(energy.cpu())
                    losses.append(loss.cpu())
                if n not in candidates:
                    continue
                for row, k in enumerate(steps):
                    unit_losses = model.modality.unit_losses(best.candidates[k - 1], target)  # (B, S)
                    loss_sums[row, candidates.index(n)] += unit_losses[mask].double().sum().cpu()
    if units == 0:
        raise ConfigError("the evaluation set has no scored predictions")
    grid = (loss_sums / units).tolist()
    energies, losses = torch.cat(energies), torch.cat(losses)
    return {
        "units": units,
        "losses": {f"steps={k},candidates={n}": grid[row][column] for row, k in enumerate(steps) for column, n in enumerate(candidates)},
        "energy_loss_pearson": pearson_correlation(energies, losses),
        "energy_loss_spearman": rank_correlation(energies, losses),
        "scatter": sample_points(energies, losses, seed),
    }


def prediction_losses(energies: torch.Tensor, unit_losses: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair the energy of each scored prediction with its loss, as two 1-D tensors.

    Energies are (B, S), one per unit, or (B, 1), one per whole sequence; a whole sequence's
    loss is the mean over its scored units.
    """
    if energies.shape == unit_losses.shape:
        return energies[mask], unit_losses[mask]
    scored = mask.any(dim=1)
    sequence_losses = (unit_losses * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (B,)
    return energies[:, 0][scored], sequence_losses[scored]


def sample_points(energies: torch.Tensor, losses: torch.Tensor, seed: int) -> dict:
    chosen = torch.randperm(energies.numel(), generator=torch.Generator().manual_seed(seed))[:SCATTER_POINTS]
    return {"energy": energies[chosen].tolist(), "loss": losses[chosen].tolist()}


def evaluate_direct(model: PredictionModel, batches: Iterable[dict], *, max_batches: int | None) -> dict:
    """Score a model that predicts directly (the baseline): one forward pass per prediction."""
    loss_sum, units = 0.0, 0
    with torch.no_grad():
        for index, batch in enumerate(batches):
            if max_batches is not None and index >= max_batches:
                break
            batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
            mask = model.modality.scored_mask(batch["target"])
            loss_sum += float(model.modality.unit_losses(model(batch["observed"]), batch["target"])[mask].double().sum())
            units += int(mask.sum())
    if units == 0:
        raise ConfigError("the evaluation set has no scored predictions")
    return {"units": units, "loss": loss_sum / units}


def think(
    checkpoint: Path,
    overrides: list[str],
    *,
    steps: list[int],
    candidates: list[int],
    baseline: Path | None = None,
) -> tuple[Path, dict]:
    """Evaluate a checkpoint's thinking on every evaluation set of its modality; write and return the report."""
    if min(steps) < 1 or min(candidates) < 1:
        raise ConfigError(f"--steps and --candidates need positive integers, got {steps} and {candidates}")
    steps, candidates = sorted(set(steps)), sorted(set(candidates))
    model, config = load_model(checkpoint, overrides)
    baseline_model = load_model(baseline, overrides)[0] if baseline else None
    for candidate in (model, baseline_model):
        if isinstance(candidate, DenoisingModel) and not isinstance(candidate, EnergyBasedTransformer):
            raise ConfigError(
                "think does not evaluate diffusion models, since they have no energy to think with and "
                "do not predict in one pass; compare them with their EBT through `ebtlab compare`"
            )
    sets = model.modality.evaluation_sets()
    max_batches = config.trainer.limit_val_batches

    report: dict = {"checkpoint": str(checkpoint), "architecture": config.model.architecture, "score": score_of(model.modality, 0.0)[0], "sets": {}}
    if isinstance(model, EnergyBasedTransformer):
        default_steps = model.thinking_steps(config.thinking)
        steps = sorted(set(steps) | {default_steps})
        report.update(steps=steps, candidates=candidates, default_steps=default_steps, thinking=dataclasses.asdict(config.thinking))
        for name, batches in sets.items():
            log.info("think: %s", name)
            report["sets"][name] = evaluate_ebt_grid(
                model, batches, steps=steps, candidates=candidates, default_steps=default_steps, max_batches=max_batches, seed=config.seed
            )
        add_gains(report, model.modality)
    else:
        for name, batches in sets.items():
            report["sets"][name] = evaluate_direct(model, batches, max_batches=max_batches)
    if baseline_model is not None:
        report["baseline"] = {name: evaluate_direct(baseline_model, batches, max_batches=max_batches) for name, batches in model.modality.evaluation_sets().items()}

    run_dir = next_run_dir(Path(config.runs_dir), "think")
    run_dir.mkdir(parents=True)
    (run_dir / "think.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (run_dir / "think.md").write_text(think_tables(report) + "\n", encoding="utf-8")
    write_plots(run_dir, report)
    return run_dir, report


def score_of(modality: Modality, loss: float) -> tuple[str, float]:
    """Return the name and value of the score that thinking gains compare, for a mean loss."""
    return next(iter(modality.summary_metrics(loss).items()), ("loss", loss))


def add_gains(report: dict, modality: Modality) -> None:
    """Add, per set, the shift ratio and the thinking gains at K and N chosen in distribution.

    Gains are given in the score (perplexity for text, as published) and in the loss itself.
    """
    names = list(report["sets"])
    reference = report["sets"][names[0]]["losses"]
    default = f"steps={report['default_steps']},candidates=1"
    longer = min((key for key in reference if key.endswith(",candidates=1")), key=reference.get)
    verified = min(reference, key=reference.get)
    report["chosen"] = {"default": default, "longer": longer, "longer_and_verified": verified}
    reference_score = score_of(modality, reference[default])[1]
    for name in names:
        losses = report["sets"][name]["losses"]
        score = {point: score_of(modality, losses[key])[1] for point, key in report["chosen"].items()}
        report["sets"][name].update(
            score=score,
            shift_ratio=score["default"] / reference_score,
            gain_longer_percent=100 * (1 - score["longer"] / score["default"]),
            gain_longer_and_verified_percent=100 * (1 - score["longer_and_verified"] / score["default"]),
            # The relative change of the loss itself, the measure for losses that are not log-likelihoods.
            loss_gain_longer_percent=100 * (1 - losses[report["chosen"]["longer"]] / losses[default]),
            loss_gain_longer_and_verified_percent=100 * (1 - losses[report["chosen"]["longer_and_verified"]] / losses[default]),
        )


def think_tables(report: dict) -> str:
    """Format the report as markdown: the in-distribution grid, then one row per evaluation set."""
    if "steps" not in report:
        rows = ["| set | loss |", "|---|---|"]
        rows += [f"| {name} | {result['loss']:.4f} |" for name, result in report["sets"].items()]
        return "\n".join(rows)
    first = next(iter(report["sets"]))
    losses = report["sets"][first]["losses"]
    lines = [f"Validation loss on {first} (rows: descent steps K, columns: candidates N):", ""]
    lines += ["| K \\ N | " + " | ".join(str(n) for n in report["candidates"]) + " |", "|---" * (len(report["candidates"]) + 1) + "|"]
    for k in report["steps"]:
        lines.append(f"| {k} | " + " | ".join(f"{losses[f'steps={k},candidates={n}']:.4f}" for n in report["candidates"]) + " |")
    if "baseline" in report:
        lines += ["", f"Baseline loss on {first}: {report['baseline'][first]['loss']:.4f} (one forward pass per prediction)"]
    chosen = report["chosen"]
    lines += [
        "",
        f"Points compared: default {chosen['default']}; longer {chosen['longer']}; longer and verified {chosen['longer_and_verified']}.",
        "",
        f"| set | {report['score']} (default) | shift ratio | gain, longer (%) | gain, longer and verified (%) | energy-loss Spearman |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in report["sets"].items():
        lines.append(
            f"| {name} | {result['score']['default']:.4g} | {result['shift_ratio']:.3g} | {result['gain_longer_percent']:.2f} | "
            f"{result['gain_longer_and_verified_percent']:.2f} | {result['energy_loss_spearman']:.3f} |"
        )
    return "\n".join(lines)


def write_plots(run_dir: Path, report: dict) -> None:
    """Write think.png (loss against network evaluations; for EBTs also gain against shift) and,
    for EBTs, think_confidence.png (final energy against loss per prediction)."""
    first = next(iter(report["sets"]))
    budget = Panel(f"loss on {first} against inference compute", "network evaluations per prediction", "loss", x_log=True)
    if "steps" not in report:
        # A direct predictor spends one forward pass per prediction at any budget.
        budget.series[report["architecture"]] = ([1, max(DEFAULT_STEPS) * max(DEFAULT_CANDIDATES)], [report["sets"][first]["loss"]] * 2)
        save_line_plots(run_dir / "think.png", [budget])
        return

    losses = report["sets"][first]["losses"]
    for n in report["candidates"]:
        budget.series[f"EBT, {n} candidate{'s' if n > 1 else ''}"] = ([n * k for k in report["steps"]], [losses[f"steps={k},candidates={n}"] for k in report["steps"]])
    if "baseline" in report:
        budget.series["baseline"] = ([1, max(report["steps"]) * max(report["candidates"])], [report["baseline"][first]["loss"]] * 2)

    score = report["score"]
    gains = Panel("thinking gain against distribution shift", f"shift ratio ({score} / in-distribution {score})", f"{score} gain (%)", x_log=True)
    by_shift = sorted(report["sets"].values(), key=lambda result: result["shift_ratio"])
    shifts = [result["shift_ratio"] for result in by_shift]
    gains.series["longer"] = (shifts, [result["gain_longer_percent"] for result in by_shift])
    gains.series["longer and verified"] = (shifts, [result["gain_longer_and_verified_percent"] for result in by_shift])
    save_line_plots(run_dir / "think.png", [budget, gains])

    save_scatter_plot(
        run_dir / "think_confidence.png",
        "final energy against loss, per prediction",
        "final energy",
        "loss",
        {name: (result["scatter"]["energy"], result["scatter"]["loss"]) for name, result in report["sets"].items()},
    )
