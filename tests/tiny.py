"""Tiny text, image and audio EBT configs shared by the tests."""

import copy
from pathlib import Path

# A model and data small enough for a training step in well under a second on a laptop CPU.
TINY_VALUES = {
    "experiment": "tiny",
    "seed": 0,
    "modality": "text",
    "model": {"size": "4xs", "layers": 1, "width": 32, "heads": 2},
    "ebt": {"descent_steps": 2, "step_size": 500.0},
    "optim": {"lr": 1e-3, "warmup_steps": 2},
    "trainer": {"max_steps": 4, "val_every_n_steps": 2, "limit_val_batches": 2, "log_every_n_steps": 1, "accelerator": "cpu", "devices": 1},
    "data": {"vocab_size": 300, "context_length": 16, "batch_size": 4},
}

# A tiny image EBT: 7x7 patches of 28x28 images, so 15 predicted patches per image.
TINY_IMAGE_VALUES = {
    "experiment": "tiny_image",
    "seed": 0,
    "modality": "image",
    "model": {"size": "4xs", "layers": 1, "width": 32, "heads": 2},
    "ebt": {"descent_steps": 2, "step_size": 50.0},
    "optim": {"lr": 1e-3, "warmup_steps": 2},
    "trainer": {"max_steps": 4, "val_every_n_steps": 2, "limit_val_batches": 2, "log_every_n_steps": 1, "accelerator": "cpu", "devices": 1},
    "data": {"patch_size": 7, "batch_size": 4},
}

# A tiny audio EBT: 16 frames of 16 mel bins per sequence. `data.path` is set by the tests to a
# folder of synthetic recordings (see synthetic_audio.py).
TINY_AUDIO_VALUES = {
    "experiment": "tiny_audio",
    "seed": 0,
    "modality": "audio",
    "model": {"size": "4xs", "layers": 1, "width": 32, "heads": 2},
    "ebt": {"descent_steps": 2, "step_size": 50.0},
    "optim": {"lr": 1e-3, "warmup_steps": 2},
    "trainer": {"max_steps": 4, "val_every_n_steps": 2, "limit_val_batches": 2, "log_every_n_steps": 1, "accelerator": "cpu", "devices": 1},
    "data": {"n_mels": 16, "context_length": 16, "batch_size": 4},
}


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Shrinks any shipped config to a few seconds of CPU: a one-layer width-32 model and 2 steps.
TINY_RUN_OVERRIDES = [
    "model.layers=1",
    "model.width=32",
    "model.heads=2",
    "trainer.max_steps=2",
    "trainer.val_every_n_steps=2",
    "trainer.limit_val_batches=1",
    "optim.warmup_steps=1",
]
IMAGE_CONFIGS = sorted((CONFIGS / "image").glob("*.yaml"))
# Shrinks a shipped image config: the tiny run on 7x7 patches.
TINY_IMAGE_OVERRIDES = [*TINY_RUN_OVERRIDES, "data.patch_size=7", "data.batch_size=4"]


def merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def fit_values(values: dict, *, resume_from=None):
    """Build a config from plain values and train it, preparing the modality as `ebtlab fit` does."""
    from ebtlab.checkpoint import RUN_STATE_KEY, read_checkpoint
    from ebtlab.config import build_config
    from ebtlab.run import fit, prepare_modality

    config, modality_class = build_config(values)
    state = read_checkpoint(resume_from)[RUN_STATE_KEY]["modality_state"] if resume_from else None
    return fit(config, prepare_modality(config, modality_class, state), resume_from=resume_from)
