"""The audio modality: next-frame prediction on log-mel frames, with a normalized frame as the candidate.

Notation: B batch, S frames per sequence, D model width, C mel bins per frame.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.regression import mean_squared_error

from ebtlab.candidates import ContinuousCandidates
from ebtlab.errors import ConfigError, DataError
from ebtlab.media import write_wav
from ebtlab.modality import Modality
from torchvision.io import write_png

from ebtlab_audio.data import AudioDataModule, frame_windows
from ebtlab_audio.features import FrameSettings, FrameStatistics, LogMel, spectrogram_grid
from ebtlab_audio.recordings import AUDIO_SUFFIXES, Recording, load_recordings, read_waveform, resolve_folder

log = logging.getLogger(__name__)

# Sequences drawn in each validation spectrogram grid: the real frames above their predictions.
SAMPLE_SEQUENCES = 4
# Silence between the real and the predicted sequence in a validation sound, in seconds.
SOUND_GAP_S = 0.25


@dataclass
class AudioDataConfig:
    path: str | None = None  # folder of WAV, FLAC or OGG files, searched recursively; null: the Asterisk prompts
    sample_rate: int = 8000  # Hz; recordings at other rates are resampled
    n_fft: int = 256  # samples per analysis window
    hop_length: int = 128  # samples between frames
    n_mels: int = 40  # mel bins per frame (C)
    context_length: int = 32  # frames per training sequence (S)
    batch_size: int = 32
    num_workers: int = 0


class AudioModality(Modality):
    """Next-frame prediction over log-mel frames of recordings, normalized per mel bin."""

    name = "audio"
    config_class = AudioDataConfig
    continuous_units = True

    def __init__(self, config: AudioDataConfig):
        super().__init__(config)
        for key in ("sample_rate", "n_fft", "hop_length", "n_mels", "context_length", "batch_size"):
            if getattr(config, key) < 1:
                raise ConfigError(f"data.{key} must be positive, got {getattr(config, key)}")
        if config.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {config.num_workers}")
        if config.n_mels > config.n_fft // 2 + 1:
            raise ConfigError(f"data.n_mels {config.n_mels} exceeds the {config.n_fft // 2 + 1} frequency bins of data.n_fft={config.n_fft}")
        self.log_mel = LogMel(FrameSettings(config.sample_rate, config.n_fft, config.hop_length, config.n_mels))
        self.recordings: dict[str, list[Recording]] = {}
        self.statistics: FrameStatistics | None = None
        self.windows: dict[str, torch.Tensor] = {}  # normalized (N, S + 1, C) windows of each split

    def prepare(self, state: dict | None = None) -> None:
        folder = resolve_folder(self.config.path)
        splits = load_recordings(folder, self.config.sample_rate)
        self.recordings = {"train": splits.train, "validation": splits.validation, "test": splits.test}
        frames = {split: [self.log_mel.frames(recording.waveform) for recording in recordings] for split, recordings in self.recordings.items()}

        # Normalization from the training recordings only, or as stored in a checkpoint.
        if state is None:
            self.statistics = FrameStatistics.of(torch.cat(frames["train"]))
        else:
            self.statistics = FrameStatistics.from_plain(state["statistics"])
        self.windows = {
            split: self.statistics.normalize(frame_windows(split_frames, self.config.context_length))
            for split, split_frames in frames.items()
        }
        if self.windows["validation"].shape[0] == 0:
            raise DataError(
                f"data.path: no validation recording in {folder} is longer than data.context_length + 1 = "
                f"{self.config.context_length + 1} frames; add recordings or shorten data.context_length"
            )
        log.info(
            "%s: %d training, %d validation, %d test recordings; %d, %d, %d sequences of %d frames",
            folder,
            *(len(recordings) for recordings in self.recordings.values()),
            *(windows.shape[0] for windows in self.windows.values()),
            self.config.context_length,
        )

    def state_dict(self) -> dict:
        return {"statistics": self.statistics.to_plain()}

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def datamodule(self, *, seed: int, start_batch: int = 0) -> AudioDataModule:
        return AudioDataModule(
            self.windows, batch_size=self.config.batch_size, num_workers=self.config.num_workers, seed=seed, start_batch=start_batch
        )

    def build_encoder(self, width: int) -> nn.Module:
        return nn.Linear(self.config.n_mels, width)  # (B, S, C) -> (B, S, D)

    def build_candidate_space(self, width: int) -> ContinuousCandidates:
        return ContinuousCandidates(self.config.n_mels, width)

    def build_prediction_head(self, width: int) -> nn.Module:
        return nn.Linear(width, self.config.n_mels)  # (B, S, D) -> (B, S, C) regressed frames

    def scored_mask(self, target: torch.Tensor) -> torch.Tensor:
        return torch.ones(target.shape[:2], dtype=torch.bool, device=target.device)  # every frame counts

    def loss(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(candidate, target)

    def unit_losses(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # candidate, target: (B, S, C) frames -> (B, S), the smooth-L1 loss of each frame
        return F.smooth_l1_loss(candidate, target, reduction="none").mean(dim=-1)

    def metrics(self, candidate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mse": mean_squared_error(candidate, target)}

    def reference_losses(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        # Two predictors that need no training: the training mean frame (zero after normalization)
        # and the previous frame (for positions 1..S-1, whose previous frame is a target too).
        return {
            "mean_frame_loss": F.smooth_l1_loss(torch.zeros_like(target), target),
            "previous_frame_loss": F.smooth_l1_loss(target[:, :-1], target[:, 1:]),
        }

    def render(self, observed: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        # observed, target, prediction: (B, S, C); the first frame of each sequence is given, not predicted.
        sample = slice(0, SAMPLE_SEQUENCES)
        first = observed[sample, :1]
        real = torch.cat((first, target[sample]), dim=1)  # (N, S + 1, C)
        predicted = torch.cat((first, prediction[sample].detach()), dim=1)
        return spectrogram_grid([list(real), list(predicted)])

    def render_sound(self, observed: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor) -> tuple[torch.Tensor, int]:
        # The first sequence as recorded, a short silence, then the same sequence as predicted.
        first = observed[0, :1]
        real = self.waveform_of(torch.cat((first, target[0])))
        predicted = self.waveform_of(torch.cat((first, prediction[0].detach())))
        gap = torch.zeros(round(SOUND_GAP_S * self.config.sample_rate))
        return torch.cat((real, gap, predicted)), self.config.sample_rate

    def waveform_of(self, frames: torch.Tensor) -> torch.Tensor:
        """Turn normalized frames (S, C) back into a waveform ((S - 1) * hop_length,) with Griffin-Lim."""
        return self.log_mel.waveform(self.statistics.denormalize(frames.detach().float().cpu()))

    def prompt_units(self, prompt: str) -> torch.Tensor:
        """Return the first S normalized frames of the recording that `prompt` names.

        `prompt` is the path of an audio file, or the name of a validation recording: its path
        relative to the data folder, or that path's file name without its suffix.
        """
        path = Path(prompt).expanduser()
        if prompt and path.is_file():
            waveform = read_waveform(path, self.config.sample_rate)
        else:
            matches = [recording for recording in self.recordings["validation"] if prompt in (recording.name, Path(recording.name).stem)]
            if len(matches) != 1:
                examples = ", ".join(Path(recording.name).stem for recording in self.recordings["validation"][:3])
                raise ConfigError(
                    f"--prompt {prompt!r} is neither an audio file ({', '.join(AUDIO_SUFFIXES)}) nor the name of one "
                    f"validation recording, such as {examples}"
                )
            waveform = matches[0].waveform
        frames = self.log_mel.frames(waveform)
        if frames.shape[0] == 0:
            raise ConfigError(f"--prompt {prompt!r} is too short: it needs more than {self.config.n_fft // 2} samples for one frame")
        return self.statistics.normalize(frames[: self.context_length])  # (S, C)

    def choose_units(self, prediction: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
        # prediction: (B, S, C) normalized frames. Above temperature 0 a sample adds Gaussian noise
        # of standard deviation `temperature` in normalized units.
        if temperature == 0:
            return prediction
        noise = torch.randn(prediction.shape, generator=generator, device=prediction.device)
        return prediction + temperature * noise

    def render_units(self, units: torch.Tensor) -> str:
        seconds = units.shape[0] * self.config.hop_length / self.config.sample_rate
        return f"{units.shape[0]} log-mel frames of {self.config.n_mels} bins, {seconds:.2f} s at {self.config.sample_rate} Hz"

    def write_units(self, units: torch.Tensor, folder: Path) -> list[Path]:
        """Write the frames (S, C) as a WAV file (Griffin-Lim) and a spectrogram PNG."""
        sound, picture = folder / "generate.wav", folder / "generate.png"
        write_wav(sound, self.waveform_of(units), self.config.sample_rate)
        pixels = (spectrogram_grid([[units]]) * 255).round().to(torch.uint8)
        write_png(pixels, str(picture))
        return [sound, picture]
