"""Synthetic recordings for the audio tests: a labelled stand-in for speech, not real speech.

Each file is a harmonic tone (a fundamental and four overtones of falling amplitude) whose
pitch glides between 100 and 250 Hz, shaped into syllable-like bursts by a 4 Hz envelope,
plus a little white noise. The tests write these files themselves, so they do not depend on
the Debian package asterisk-core-sounds-en-wav.
"""

import math
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 8000  # Hz
HARMONICS = 5


def synthetic_waveform(index: int, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return one synthetic recording (T,) in [-1, 1]; `index` varies its pitch glide and rhythm."""
    rng = np.random.default_rng(index)
    time = np.arange(round(seconds * sample_rate)) / sample_rate
    start, end = rng.uniform(100.0, 250.0, size=2)
    pitch = start + (end - start) * time / seconds  # Hz
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    tone = sum(np.sin(harmonic * phase) / harmonic for harmonic in range(1, HARMONICS + 1))
    envelope = 0.5 * (1 - np.cos(2 * math.pi * 4.0 * time + rng.uniform(0, 2 * math.pi)))
    signal = 0.3 * envelope * tone / HARMONICS + 0.01 * rng.standard_normal(time.shape)
    return signal.astype(np.float32)


def write_synthetic_recordings(folder: Path, *, count: int = 24, seconds: float = 1.2, sample_rate: int = SAMPLE_RATE) -> list[Path]:
    """Write `count` synthetic 16-bit WAV recordings into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"synthetic_{index:02d}.wav"
        soundfile.write(str(path), synthetic_waveform(index, seconds, sample_rate), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths
