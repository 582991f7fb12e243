"""Checkpoint files: written atomically, read without unpickling arbitrary objects."""

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ebtlab.errors import CheckpointError, first_line

# Key under which ebtlab stores its own run state (config and modality state) in a checkpoint.
RUN_STATE_KEY = "ebtlab"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file and rename it over the target.

    The rename is atomic on POSIX file systems, so a crash or kill during a save leaves the
    previous checkpoint at that path intact.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Load with `read_checkpoint`, which never unpickles arbitrary objects, whatever the value of `weights_only`."""
        return read_checkpoint(Path(path))


class RunStateCallback(L.Callback):
    """Store the resolved config and the modality's data-derived state in every checkpoint."""

    def __init__(self, config: dict, modality_state: dict):
        self.run_state = {"config": config, "modality_state": modality_state}

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint.setdefault(RUN_STATE_KEY, {}).update(self.run_state)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by ebtlab onto the CPU with `weights_only=True`."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path {path} is not a file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is not a checkpoint, or it contains objects other than "
            "tensors and plain data, which ebtlab does not unpickle"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        reason = first_line(error).split(". ")[0]  # torch appends several sentences of advice
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or corrupt): {reason}") from None
    if not isinstance(checkpoint, dict) or RUN_STATE_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not an ebtlab checkpoint (it has no '{RUN_STATE_KEY}' run state)")
    return checkpoint
