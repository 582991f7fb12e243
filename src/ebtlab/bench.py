"""`ebtlab bench`: the training cost of an EBT against its autoregressive baseline, measured here.

For the config's context length S and for 2S, both models are built at the same size and fed the
same real training batch. A training step is the forward and backward passes, gradient clipping and
the optimiser step, and its time is the median of several steps after warm-up steps. Each model
also gets its counted FLOPs per step and its peak memory of one step. Achieved FLOP/s are reported
as a fraction of this machine's fp32 matrix-multiply peak, timed in the same run. The report goes
to runs/bench/version_<n>/bench.json and bench.md.
"""

import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ebtlab.compare import baseline_config
from ebtlab.config import RunConfig
from ebtlab.cost import peak_training_step_memory, training_step_flops
from ebtlab.errors import ConfigError
from ebtlab.modality import Modality
from ebtlab.models import BASELINES, PredictionModel
from ebtlab.run import GRADIENT_CLIP, build_model, next_run_dir, prepare_modality

log = logging.getLogger(__name__)

# Side of the square fp32 matrices whose product times the machine's matmul peak.
PEAK_MATMUL_SIZE = 2048
# Operators listed in the profile of one EBT training step.
PROFILE_TOP_OPERATORS = 10
# bench times next-unit prediction, whose contexts it doubles: the EBT against this baseline.
BASELINE = BASELINES["ebt"]


def bench_device(config: RunConfig) -> torch.device:
    """Return the device the config's trainer would train on: a GPU if asked for and present."""
    if config.trainer.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    if config.trainer.accelerator in ("gpu", "cuda"):
        raise ConfigError(f"trainer.accelerator={config.trainer.accelerator} but no CUDA device is available")
    return torch.device("cpu")


def median_seconds(run: Callable[[], None], *, repetitions: int, warmup: int, device: torch.device) -> float:
    """Time `run` `repetitions` times after `warmup` untimed calls; return the median in seconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repetitions):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_flops(device: torch.device, *, repetitions: int, warmup: int) -> float:
    """Measure the fp32 FLOP/s of one large square matrix product on `device`."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(PEAK_MATMUL_SIZE, PEAK_MATMUL_SIZE, device=device, generator=generator)
    b = torch.randn(PEAK_MATMUL_SIZE, PEAK_MATMUL_SIZE, device=device, generator=generator)
    seconds = median_seconds(lambda: torch.mm(a, b), repetitions=repetitions, warmup=warmup, device=device)
    return 2 * PEAK_MATMUL_SIZE**3 / seconds


def training_step(model: PredictionModel, batch: dict) -> Callable[[], None]:
    """Return one full training step of `model` on `batch`, as the Trainer runs it."""
    optimizer = model.configure_optimizers()["optimizer"]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.training_loss(batch).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
        optimizer.step()

    return step


def profile_step(step: Callable[[], None]) -> list[dict]:
    """Return the operators that take the most self CPU time in one call of `step`."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        step()
    averages = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    total = sum(event.self_cpu_time_total for event in averages)
    return [
        {"operator": event.key, "calls": event.count, "self_cpu_ms": round(event.self_cpu_time_total / 1000, 1), "share": round(event.self_cpu_time_total / total, 3)}
        for event in averages[:PROFILE_TOP_OPERATORS]
    ]


def bench_model(model: PredictionModel, batch: dict, *, repetitions: int, warmup: int, device: torch.device) -> dict:
    """Measure one model's training step: median time, counted FLOPs and peak memory."""
    flops = training_step_flops(model, batch)
    memory = peak_training_step_memory(model, batch)
    step = training_step(model, batch)
    seconds = median_seconds(step, repetitions=repetitions, warmup=warmup, device=device)
    return {
        "parameters": model.parameter_count(),
        "step_time_s": seconds,
        "flops_per_step": flops,
        "achieved_flops_per_s": flops / seconds,
        "peak_memory_bytes": memory,
    }


def bench(config: RunConfig, modality: Modality, *, repetitions: int, warmup: int) -> tuple[Path, dict]:
    """Measure the EBT of `config` and its baseline at S and 2S on a prepared modality; write and return the report."""
    if config.model.architecture != "ebt":
        raise ConfigError(f"model.architecture: bench measures an EBT config against its baseline, not {config.model.architecture!r}")
    if repetitions < 1 or warmup < 0:
        raise ConfigError(f"bench needs at least 1 repetition and no negative warm-up, got {repetitions} and {warmup}")
    device = bench_device(config)
    torch.set_grad_enabled(True)

    peak = matmul_peak_flops(device, repetitions=repetitions, warmup=warmup)
    log.info("fp32 matmul peak: %.1f GFLOP/s", peak / 1e9)

    contexts = []
    for context_length in (config.data.context_length, 2 * config.data.context_length):
        context_config = dataclasses.replace(config, data=dataclasses.replace(config.data, context_length=context_length))
        context_modality = prepare_modality(context_config, type(modality), state=modality.state_dict())
        batch = next(iter(context_modality.datamodule(seed=config.seed).train_dataloader()))
        batch = {name: tensor.to(device) for name, tensor in batch.items()}
        built, models = {}, {}
        for name, model_config in (("ebt", context_config), (BASELINE, baseline_config(context_config))):
            log.info("bench: context %d, %s", context_length, name)
            torch.manual_seed(config.seed)
            built[name] = build_model(context_modality, model_config).to(device)
            models[name] = bench_model(built[name], batch, repetitions=repetitions, warmup=warmup, device=device)
            models[name]["fraction_of_peak"] = models[name]["achieved_flops_per_s"] / peak
        profile = profile_step(training_step(built["ebt"], batch))
        ebt, baseline = models["ebt"], models[BASELINE]
        contexts.append(
            {
                "context_length": context_length,
                "batch_size": int(batch["target"].shape[0]),
                "models": models,
                "step_time_ratio": ebt["step_time_s"] / baseline["step_time_s"],
                "flops_ratio": ebt["flops_per_step"] / baseline["flops_per_step"],
                "memory_ratio": ebt["peak_memory_bytes"] / baseline["peak_memory_bytes"],
                "ebt_profile": profile,
            }
        )

    report = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "repetitions": repetitions,
        "warmup": warmup,
        "matmul_peak_flops_per_s": peak,
        "contexts": contexts,
    }
    run_dir = next_run_dir(Path(config.runs_dir), "bench")
    run_dir.mkdir(parents=True)
    (run_dir / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (run_dir / "bench.md").write_text(bench_table(report) + "\n", encoding="utf-8")
    return run_dir, report


def bench_table(report: dict) -> str:
    """Format the bench report as markdown: one row per model and context, then the EBT profiles."""
    header = ["context", "model", "step time (s)", "time ratio", "GFLOP per step", "GFLOP/s", "fraction of peak", "peak memory (MiB)", "memory ratio"]
    lines = [
        f"fp32 matmul peak on {report['device']} ({report['threads']} threads): {report['matmul_peak_flops_per_s'] / 1e9:.1f} GFLOP/s",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for context in report["contexts"]:
        baseline = context["models"][BASELINE]
        for name, model in context["models"].items():
            cells = [
                str(context["context_length"]),
                name,
                f"{model['step_time_s']:.3f}",
                f"{model['step_time_s'] / baseline['step_time_s']:.2f}",
                f"{model['flops_per_step'] / 1e9:.2f}",
                f"{model['achieved_flops_per_s'] / 1e9:.1f}",
                f"{model['fraction_of_peak']:.3f}",
                f"{model['peak_memory_bytes'] / 2**20:.1f}",
                f"{model['peak_memory_bytes'] / baseline['peak_memory_bytes']:.2f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    for context in report["contexts"]:
        lines += ["", f"EBT training step at context {context['context_length']}, operators by self CPU time:", ""]
        lines += ["| operator | calls | self CPU (ms) | share |", "|---|---|---|---|"]
        lines += [f"| {row['operator']} | {row['calls']} | {row['self_cpu_ms']} | {row['share']:.1%} |" for row in context["ebt_profile"]]
    return "\n".join(lines)
