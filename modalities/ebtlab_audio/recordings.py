"""Recordings read from a folder of audio files, split by file.

Every file is read with soundfile, mixed down to mono and resampled to one sample rate.

Split rule: files are ordered by the SHA-256 hash of their path relative to the folder. The
first ceil(5%) of that order are the validation split, the next ceil(5%) the test split, and
the rest the training split. A recording is therefore in exactly one split, and the split does
not depend on the order in which the file system lists the folder.
"""

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio

from ebtlab.errors import DataError

# Prompts of the Debian package asterisk-core-sounds-en-wav: 568 WAV files of one English speaker at 8 kHz.
ASTERISK_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
HELD_OUT_SHARE = 0.05  # of the files, for each of the validation and test splits
MIN_FILES = 3  # one per split


@dataclass(frozen=True)
class Recording:
    name: str  # path relative to the folder, with "/" separators
    waveform: torch.Tensor  # (T,) float32 samples at the shared sample rate


@dataclass(frozen=True)
class RecordingSplits:
    train: list[Recording]
    validation: list[Recording]
    test: list[Recording]


def resolve_folder(path: str | None) -> Path:
    """Return the folder to read: `path`, or the Asterisk prompts when `path` is None."""
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.path: folder not found: {folder}")
        return folder
    if not ASTERISK_SOUNDS_DIR.is_dir():
        raise DataError(
            f"data.path: no folder given and {ASTERISK_SOUNDS_DIR} does not exist; install the Debian package "
            "asterisk-core-sounds-en-wav, or set data.path to a folder of WAV, FLAC or OGG files"
        )
    return ASTERISK_SOUNDS_DIR


def audio_files(folder: Path) -> list[Path]:
    """Return the audio files under `folder`, searched recursively, in sorted order."""
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file())
    if not files:
        raise DataError(f"data.path: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
    if len(files) < MIN_FILES:
        raise DataError(f"data.path: {len(files)} audio files in {folder}; at least {MIN_FILES} are needed, one for each split")
    return files


def read_waveform(path: Path, sample_rate: int) -> torch.Tensor:
    """Read an audio file as a mono float32 waveform (T,) at `sample_rate`."""
    try:
        samples, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (T, channels)
    except soundfile.LibsndfileError as error:  # a truncated file or an unknown format
        raise DataError(f"data.path: cannot read audio file {path}: {error.error_string}") from None
    waveform = torch.from_numpy(samples).mean(dim=1)  # (T,)
    if file_rate != sample_rate:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    return waveform


def split_order(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def split_names(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split file names into train, validation and test by the rule in this module's docstring."""
    ordered = sorted(names, key=split_order)
    held_out = math.ceil(HELD_OUT_SHARE * len(ordered))
    validation, test, train = ordered[:held_out], ordered[held_out : 2 * held_out], ordered[2 * held_out :]
    return sorted(train), sorted(validation), sorted(test)


def load_recordings(folder: Path, sample_rate: int) -> RecordingSplits:
    """Read every audio file under `folder` and split the recordings by file."""
    files = {path.relative_to(folder).as_posix(): path for path in audio_files(folder)}
    train, validation, test = split_names(list(files))

    def read(names: list[str]) -> list[Recording]:
        return [Recording(name, read_waveform(files[name], sample_rate)) for name in names]

    return RecordingSplits(train=read(train), validation=read(validation), test=read(test))
