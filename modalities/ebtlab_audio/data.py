"""Recordings as next-frame sequences, and the audio data module.

Notation: F frames of a recording, S frames per sequence, C mel bins per frame.

Each recording is cut into non-overlapping windows of S + 1 frames, starting at frames 0, S,
2S, ...: position i of a window observes frames 0..i and predicts frame i + 1. A window never
crosses from one recording into another. The frames after a recording's last whole window are
not used, and neither are recordings shorter than S + 1 frames.
"""

import torch
from torch.utils.data import Dataset

from ebtlab.datamodule import SplitDataModule
from ebtlab.errors import DataError


def frame_windows(frames: list[torch.Tensor], context_length: int) -> torch.Tensor:
    """Cut each recording's frames (F, C) into windows; return them stacked as (N, S + 1, C)."""
    windows = [
        recording[start : start + context_length + 1]
        for recording in frames
        for start in range(0, recording.shape[0] - context_length, context_length)
    ]
    if not windows:
        return torch.zeros(0, context_length + 1, frames[0].shape[1] if frames else 0)
    return torch.stack(windows)


class FrameSequences(Dataset):
    """Windows (N, S + 1, C) of normalized frames, served as observed frames (S, C) and target frames (S, C)."""

    def __init__(self, windows: torch.Tensor):
        self.windows = windows

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.windows[index]  # (S + 1, C)
        return {"observed": window[:-1], "target": window[1:]}


class AudioDataModule(SplitDataModule):
    """Training, validation and test next-frame sequences of recordings split by file."""

    def __init__(
        self,
        windows: dict[str, torch.Tensor],
        *,
        batch_size: int,
        num_workers: int,
        seed: int,
        start_batch: int = 0,
    ):
        datasets = {split: FrameSequences(split_windows) for split, split_windows in windows.items() if split_windows.shape[0] > 0}
        training_sequences, frames_per_sequence = windows["train"].shape[0], windows["train"].shape[1] - 1
        if training_sequences < batch_size:
            raise DataError(
                f"the training split has {training_sequences} sequences of {frames_per_sequence} frames, "
                f"fewer than one batch of data.batch_size={batch_size}"
            )
        super().__init__(datasets, batch_size=batch_size, num_workers=num_workers, seed=seed, start_batch=start_batch)
