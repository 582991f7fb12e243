import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from ebtlab.checkpoint import AtomicCheckpointIO, read_checkpoint
from ebtlab.errors import CheckpointError


def test_atomic_save_keeps_previous_file_when_save_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "ebtlab": {}}, path)

    def broken_save(obj, file):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}, "ebtlab": {}}, path)
    monkeypatch.undo()
    torch.testing.assert_close(read_checkpoint(path)["state_dict"]["w"], torch.ones(2))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "absent.ckpt")


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}, "ebtlab": {}}, path)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="cannot be read \\(truncated or corrupt\\)"):
        read_checkpoint(truncated)


def test_checkpoint_with_code_is_not_unpickled(tmp_path):
    path = tmp_path / "tampered.ckpt"
    torch.save({"state_dict": {}, "ebtlab": {}, "payload": CheckpointError("not data")}, path)
    with pytest.raises(CheckpointError, match="contains objects other than tensors and plain data"):
        read_checkpoint(path)


def test_checkpoint_path_is_directory(tmp_path):
    with pytest.raises(CheckpointError, match="is not a file"):
        read_checkpoint(tmp_path)


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="is not an ebtlab checkpoint"):
        read_checkpoint(path)


KILLED_SAVER = """
import sys
from pathlib import Path

import torch

from ebtlab.checkpoint import AtomicCheckpointIO

path = Path(sys.argv[1])
io = AtomicCheckpointIO()
for count in range(1_000_000):
    io.save_checkpoint({"state_dict": {"w": torch.full((1_000_000,), float(count))}, "ebtlab": {}}, path)
    print(count, flush=True)
"""


def test_kill_during_save_leaves_readable_checkpoint(tmp_path):
    # A process saves 4 MB checkpoints back to back; SIGKILL lands at a random moment, most likely mid-save.
    path = tmp_path / "last.ckpt"
    process = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        process.stdout.readline()
    time.sleep(random.uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    weights = read_checkpoint(path)["state_dict"]["w"]
    assert weights.shape == (1_000_000,)
    assert torch.equal(weights, torch.full_like(weights, weights[0].item()))


def test_checkpoint_io_loads_without_unpickling(tmp_path):
    path = tmp_path / "tampered.ckpt"
    torch.save({"state_dict": {}, "ebtlab": {}, "payload": CheckpointError("not data")}, path)
    with pytest.raises(CheckpointError, match="contains objects other than tensors and plain data"):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
