"""The global random generators: their state in checkpoints, restored when a run resumes."""

import random
from typing import Any

import lightning as L
import numpy as np
import torch

from ebtlab.checkpoint import RUN_STATE_KEY


def capture_random_state() -> dict[str, Any]:
    """Return the state of every global random generator as tensors and plain data."""
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": numpy_state["state"]["pos"],
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # NOTE: not exercised by the test suite, which runs on CPUs only.
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Set every global random generator to a state from `capture_random_state`."""
    torch.set_rng_state(state["torch"])
    version, internal_state, gauss = state["python"]
    random.setstate((version, tuple(internal_state), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RandomStateCallback(L.Callback):
    """Save the global random generators in each checkpoint and restore them on resume.

    The generators are seeded when training starts. Their state is stored under the
    checkpoint's "ebtlab" entry as "random_state" and restored just before the first training
    step after a resume, so that draws made while Lightning
    sets up (a data loader's base seed, say) do not shift it. Every random stream that draws
    from the global torch, Python or NumPy generators, such as the initial candidates, is
    covered. A stream with its own `torch.Generator` must save `generator.get_state()` in
    its LightningModule's `on_save_checkpoint` and restore it in `on_load_checkpoint`.

    With several processes, the checkpoint contains the state of rank 0, which equals that of
    every rank because all processes are seeded alike and draw alike.
    """

    def __init__(self, seed: int):
        self.seed = seed
        self.pending: dict[str, Any] | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        # Training draws start from the seed, whatever set-up drew before. Lightning's DDP
        # strategy re-seeds during its set-up and a single process does not, so without this
        # the two would draw different initial candidates.
        L.seed_everything(self.seed, workers=True, verbose=False)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint.setdefault(RUN_STATE_KEY, {})["random_state"] = capture_random_state()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self.pending = checkpoint.get(RUN_STATE_KEY, {}).get("random_state")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index: int) -> None:
        if self.pending is not None:
            restore_random_state(self.pending)
            self.pending = None
