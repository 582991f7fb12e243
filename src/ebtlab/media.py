"""Files a person can open: mono waveforms as 16-bit PCM WAV files, written with the standard library."""

import wave
from pathlib import Path

import torch

# Largest 16-bit PCM sample value; samples in [-1, 1] are scaled by it.
PCM_16_MAX = 32767


def write_wav(path: Path, waveform: torch.Tensor, sample_rate: int) -> None:
    """Write a mono waveform (T,) with samples in [-1, 1] (others are clipped) as a 16-bit PCM WAV file."""
    samples = (waveform.detach().float().cpu().clamp(-1.0, 1.0) * PCM_16_MAX).round().to(torch.int16)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(samples.numpy().astype("<i2").tobytes())  # WAV samples are little-endian
