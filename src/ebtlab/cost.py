"""Counted training cost: FLOPs and peak memory of one training step of a model.

FLOPs are counted by Lightning's `measure_flops` (torch's FlopCounterMode), which counts the
matrix products and attention calls that actually run, in the forward pass and in every
backward pass, including the second-order graph of energy descent. Elementwise work (softmax,
norms, activations) is not counted, as is usual for FLOP counts of Transformers.
"""

import json
import tempfile
import warnings
from pathlib import Path

import torch
from lightning.fabric.utilities.throughput import measure_flops

from ebtlab.models import PredictionModel


def training_step_flops(model: PredictionModel, batch: dict) -> int:
    """Count the FLOPs of one training step's forward and backward passes on `batch`.

    The model's gradients and the random number generators are left as they were, so counting
    inside a run does not change its trajectory.
    """
    devices = [batch["target"].device.index or 0] if batch["target"].is_cuda else []
    with torch.random.fork_rng(devices=devices):
        flops = measure_flops(model, lambda: model.training_loss(batch), lambda loss: loss)
    model.zero_grad(set_to_none=True)
    return flops


def peak_training_step_memory(model: PredictionModel, batch: dict) -> int:
    """Measure the peak bytes allocated by tensors during one training step's forward and backward.

    On a GPU this is the CUDA allocator's peak above the memory in use before the step. On a CPU
    it is the peak of the PyTorch profiler's memory timeline, which records every tensor
    allocation and release during the step.
    """
    device = batch["target"].device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        model.training_loss(batch).backward()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        peak = _profiled_peak_memory(lambda: model.training_loss(batch).backward(), device)
    model.zero_grad(set_to_none=True)
    return peak


def _profiled_peak_memory(step, device: torch.device) -> int:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as profiler:
        step()
    with tempfile.TemporaryDirectory() as folder:
        timeline = Path(folder) / "memory.json"
        with warnings.catch_warnings():
            # NOTE: torch 2.14 deprecates the memory timeline in favour of CUDA-only snapshots;
            # it is the profiler's only record of CPU allocations over time.
            warnings.simplefilter("ignore", FutureWarning)
            profiler.export_memory_timeline(str(timeline), device=str(device))
        _, sizes = json.loads(timeline.read_text())
    # Each row contains the bytes of every memory category at one moment. The step's peak is the largest total.
    return max((sum(row) for row in sizes), default=0)
