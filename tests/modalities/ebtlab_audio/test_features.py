import math

import torch
import torchaudio

from ebtlab_audio.features import MEL_FLOOR, PICTURE_SCALE, FrameSettings, FrameStatistics, LogMel, spectrogram_grid, spectrogram_picture

SETTINGS = FrameSettings(sample_rate=8000, n_fft=256, hop_length=128, n_mels=40)


def tone(frequency: float, seconds: float = 1.0) -> torch.Tensor:
    time = torch.arange(round(seconds * SETTINGS.sample_rate)) / SETTINGS.sample_rate
    return 0.5 * torch.sin(2 * math.pi * frequency * time)


def test_frames_shape_and_values():
    waveform = tone(440.0)  # 8,000 samples
    frames = LogMel(SETTINGS).frames(waveform)
    assert frames.shape == (1 + 8000 // 128, 40)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=8000, n_fft=256, hop_length=128, n_mels=40)
    torch.testing.assert_close(frames, mel(waveform).clamp(min=MEL_FLOOR).log().T)


def test_silence_is_floored():
    frames = LogMel(SETTINGS).frames(torch.zeros(1000))
    assert torch.equal(frames, torch.full_like(frames, math.log(MEL_FLOOR)))


def test_too_short_waveform_has_no_frames():
    assert LogMel(SETTINGS).frames(torch.zeros(128)).shape == (0, 40)
    assert LogMel(SETTINGS).frames(torch.zeros(129)).shape == (2, 40)


def test_decode_length_and_range():
    frames = LogMel(SETTINGS).frames(tone(440.0))[:20]  # (20, 40)
    waveform = LogMel(SETTINGS).waveform(frames)
    assert waveform.shape == (19 * 128,)
    assert waveform.abs().max().item() <= 1.0


def test_decode_keeps_pitch():
    torch.manual_seed(0)
    log_mel = LogMel(SETTINGS)
    waveform = log_mel.waveform(log_mel.frames(tone(1000.0)))
    spectrum = torch.fft.rfft(waveform).abs()
    peak_hz = spectrum.argmax().item() * SETTINGS.sample_rate / waveform.numel()
    # Mel bins near 1 kHz are about 60 Hz wide at these settings.
    assert abs(peak_hz - 1000.0) < 60.0


def test_statistics_normalize_per_bin():
    frames = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    statistics = FrameStatistics.of(frames)
    torch.testing.assert_close(statistics.mean, torch.tensor([3.0, 5.0, 5.0]))
    torch.testing.assert_close(statistics.std, torch.tensor([2.0, 1.0, math.sqrt(13.0)]))  # a constant bin gets std 1
    normalized = statistics.normalize(frames)
    torch.testing.assert_close(normalized[:, 0], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(statistics.denormalize(normalized), frames)
    restored = FrameStatistics.from_plain(statistics.to_plain())
    assert torch.equal(restored.mean, statistics.mean)
    assert torch.equal(restored.std, statistics.std)


def test_picture_puts_low_frequencies_at_bottom():
    frames = torch.full((6, 4), -3.0)
    frames[:, 0] = 3.0  # the lowest mel bin at full brightness
    picture = spectrogram_picture(frames)
    assert picture.shape == (3, 4 * PICTURE_SCALE, 6 * PICTURE_SCALE)
    bottom, top = picture[:, -1, 0], picture[:, 0, 0]
    assert bottom.sum() > top.sum()


def test_grid_lays_out_rows():
    rows = [[torch.zeros(6, 4)] * 3, [torch.zeros(6, 4)] * 3]
    grid = spectrogram_grid(rows)
    assert grid.shape == (3, 2 + 2 * (4 * PICTURE_SCALE + 2), 2 + 3 * (6 * PICTURE_SCALE + 2))
