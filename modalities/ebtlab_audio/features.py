"""Log-mel frames of waveforms, their per-bin normalization, and the way back to sound and pictures.

Notation: T samples, F frames, C mel bins per frame, S frames per sequence.

A frame is the natural log of a mel-scaled power spectrum (torchaudio's MelSpectrogram with
a Hann window and centred frames), floored at MEL_FLOOR so that digital silence stays finite.
Frames are normalized per mel bin with the mean and standard deviation of the training split.
Decoding undoes the normalization and the log, maps mel bins back to linear frequencies with
torchaudio's InverseMelScale (a least-squares solution, clamped at zero) and estimates the
phase with GriffinLim.
"""

from dataclasses import dataclass

import matplotlib
import torch
import torchaudio
from torchvision.utils import make_grid

# Mel power below this (-50 dB relative to 1) counts as this, so that digital silence has a finite log.
MEL_FLOOR = 1e-5
# Griffin-Lim iterations when frames are turned back into a waveform.
GRIFFIN_LIM_ITERATIONS = 32
# Spectrogram pictures map normalized values in [-LIMIT, LIMIT] onto the colour map.
PICTURE_LIMIT = 3.0
PICTURE_SCALE = 4  # pixels per frame and per mel bin
COLOUR_MAP = "magma"


@dataclass(frozen=True)
class FrameSettings:
    sample_rate: int  # Hz
    n_fft: int  # samples per analysis window
    hop_length: int  # samples between frames
    n_mels: int  # mel bins per frame (C)


class LogMel:
    """Waveforms to log-mel frames and back, for one set of frame settings."""

    def __init__(self, settings: FrameSettings):
        self.settings = settings
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length, n_mels=settings.n_mels
        )
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=settings.n_fft // 2 + 1, n_mels=settings.n_mels, sample_rate=settings.sample_rate
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=settings.n_fft, hop_length=settings.hop_length, n_iter=GRIFFIN_LIM_ITERATIONS
        )

    def frames(self, waveform: torch.Tensor) -> torch.Tensor:
        """Return the log-mel frames (F, C) of a waveform (T,); F = 1 + T // hop_length, none if T is too short."""
        if waveform.numel() <= self.settings.n_fft // 2:
            return torch.zeros(0, self.settings.n_mels)  # too short for the reflection padding of centred frames
        power = self.mel(waveform)  # (C, F)
        return power.clamp(min=MEL_FLOOR).log().T  # (F, C)

    def waveform(self, frames: torch.Tensor) -> torch.Tensor:
        """Estimate a waveform ((F - 1) * hop_length,) in [-1, 1] from log-mel frames (F, C)."""
        power = frames.detach().float().cpu().exp().T  # (C, F)
        linear = self.inverse_mel(power)  # (n_fft / 2 + 1, F)
        return self.griffin_lim(linear).clamp(-1.0, 1.0)  # ((F - 1) * hop_length,)


@dataclass(frozen=True)
class FrameStatistics:
    """Per-bin mean and standard deviation (C,) of log-mel frames, from the training split."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, frames: torch.Tensor) -> "FrameStatistics":
        """Return the statistics of frames (F, C); a bin that never changes gets std 1."""
        std = frames.std(dim=0)
        return cls(mean=frames.mean(dim=0), std=torch.where(std > 0, std, torch.ones_like(std)))

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames - self.mean) / self.std  # (..., C)

    def denormalize(self, frames: torch.Tensor) -> torch.Tensor:
        return frames * self.std.to(frames.device) + self.mean.to(frames.device)  # (..., C)

    def to_plain(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_plain(cls, values: dict) -> "FrameStatistics":
        return cls(mean=torch.tensor(values["mean"]), std=torch.tensor(values["std"]))


def spectrogram_picture(frames: torch.Tensor) -> torch.Tensor:
    """Draw normalized frames (S, C) as an RGB picture (3, C * scale, S * scale), low frequencies at the bottom."""
    values = ((frames.detach().float().cpu().T.flip(0) + PICTURE_LIMIT) / (2 * PICTURE_LIMIT)).clamp(0.0, 1.0)  # (C, S)
    colours = torch.from_numpy(matplotlib.colormaps[COLOUR_MAP](values.numpy())[..., :3]).float()  # (C, S, 3)
    picture = colours.permute(2, 0, 1)  # (3, C, S)
    return picture.repeat_interleave(PICTURE_SCALE, dim=1).repeat_interleave(PICTURE_SCALE, dim=2)


def spectrogram_grid(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    """Lay out rows of equally many, equally long frame sequences (S, C) as one RGB grid (3, H, W) in [0, 1]."""
    pictures = [spectrogram_picture(frames) for row in rows for frames in row]
    return make_grid(torch.stack(pictures), nrow=len(rows[0]), padding=2, pad_value=1.0)
