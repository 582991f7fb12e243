import shutil

import pytest
import soundfile
import torch
from torch.nn import functional as F

from ebtlab.config import build_config
from ebtlab.errors import ConfigError, DataError
from ebtlab.run import prepare_modality
from ebtlab_audio import AudioDataConfig, AudioModality
from ebtlab_audio.features import FrameStatistics

from synthetic_audio import write_synthetic_recordings
from tiny import merge


def training_frames(modality: AudioModality) -> torch.Tensor:
    return torch.cat([modality.log_mel.frames(recording.waveform) for recording in modality.recordings["train"]])


def test_sequences_predict_next_frame(audio_modality):
    assert audio_modality.context_length == 16
    # 1.2 s at 8 kHz and a hop of 128 samples: 76 frames per recording, so 4 windows of 17 frames.
    assert audio_modality.windows["train"].shape == (20 * 4, 17, 16)
    assert audio_modality.windows["validation"].shape == (2 * 4, 17, 16)
    batch = next(iter(audio_modality.datamodule(seed=0).val_dataloader()))
    first = audio_modality.recordings["validation"][0]
    frames = audio_modality.statistics.normalize(audio_modality.log_mel.frames(first.waveform))  # (76, 16)
    torch.testing.assert_close(batch["observed"][0], frames[0:16])
    torch.testing.assert_close(batch["target"][0], frames[1:17])
    torch.testing.assert_close(batch["observed"][1], frames[16:32])


def test_normalization_from_training_split_only(audio_modality, audio_values, audio_folder, tmp_path):
    expected = FrameStatistics.of(training_frames(audio_modality))
    torch.testing.assert_close(audio_modality.statistics.mean, expected.mean)
    torch.testing.assert_close(audio_modality.statistics.std, expected.std)
    normalized = torch.cat(list(audio_modality.windows["train"]))
    assert normalized.mean().abs().item() < 0.2

    # A copy of the folder with loud noise in place of every held-out recording: the statistics stay the same.
    copy = tmp_path / "copy"
    shutil.copytree(audio_folder, copy)
    noise = (torch.rand(9600) * 2 - 1).numpy()
    for split in ("validation", "test"):
        for recording in audio_modality.recordings[split]:
            soundfile.write(str(copy / recording.name), noise, 8000)
    other = prepare_modality(*build_config(merge(audio_values, {"data": {"path": str(copy)}})))
    assert torch.equal(other.statistics.mean, audio_modality.statistics.mean)
    assert torch.equal(other.statistics.std, audio_modality.statistics.std)
    assert not torch.equal(other.windows["validation"], audio_modality.windows["validation"])


def test_state_restores_statistics(audio_modality, audio_values):
    state = audio_modality.state_dict()
    restored = AudioModality(AudioDataConfig(**audio_values["data"]))
    restored.prepare(state={"statistics": {"mean": [0.0] * 16, "std": [1.0] * 16}})
    assert torch.equal(restored.statistics.mean, torch.zeros(16))
    restored.prepare(state=state)
    assert torch.equal(restored.windows["validation"], audio_modality.windows["validation"])


def test_candidate_space_is_identity_then_linear(audio_modality):
    space = audio_modality.build_candidate_space(width=8)
    candidate = torch.randn(2, 3, 16)
    assert torch.equal(space.normalize(candidate), candidate)
    torch.testing.assert_close(space(candidate), candidate @ space.projection.weight.T)
    first = space.initial(torch.zeros(2, 3, 16), torch.Generator().manual_seed(0))
    assert first.shape == (2, 3, 16)
    assert torch.equal(first, space.initial(torch.zeros(2, 3, 16), torch.Generator().manual_seed(0)))


def test_encoder_and_head_map_frames_to_width(audio_modality):
    hidden = audio_modality.build_encoder(width=8)(torch.randn(2, 16, 16))
    assert hidden.shape == (2, 16, 8)
    assert audio_modality.build_prediction_head(width=8)(hidden).shape == (2, 16, 16)


def test_loss_and_mse_hand_computed(audio_modality):
    target = torch.zeros(1, 2, 16)
    candidate = torch.zeros(1, 2, 16)
    candidate[0, 0, 0] = 2.0  # |d| >= 1: |d| - 0.5 = 1.5
    candidate[0, 1, 3] = -0.5  # |d| < 1: d^2 / 2 = 0.125
    assert audio_modality.loss(candidate, target).item() == pytest.approx((1.5 + 0.125) / 32)
    torch.testing.assert_close(audio_modality.unit_losses(candidate, target), torch.tensor([[1.5 / 16, 0.125 / 16]]))
    assert audio_modality.metrics(candidate, target)["mse"].item() == pytest.approx((4.0 + 0.25) / 32)
    assert audio_modality.scored_mask(target).all()


def test_reference_losses(audio_modality):
    target = torch.randn(3, 16, 16)
    references = audio_modality.reference_losses(target)
    torch.testing.assert_close(references["mean_frame_loss"], F.smooth_l1_loss(torch.zeros_like(target), target))
    torch.testing.assert_close(references["previous_frame_loss"], F.smooth_l1_loss(target[:, :-1], target[:, 1:]))


def test_render_shows_real_above_predicted(audio_modality):
    batch = next(iter(audio_modality.datamodule(seed=0).val_dataloader()))
    grid = audio_modality.render(batch["observed"], batch["target"], batch["target"])
    # 4 columns of 17 frames and 2 rows of 16 bins, 4 pixels each, 2 pixels of padding.
    assert grid.shape == (3, 2 + 2 * (64 + 2), 2 + 4 * (68 + 2))
    torch.testing.assert_close(grid[:, 2:66], grid[:, 68:132])  # a perfect prediction draws the real frames again


def test_render_sound_is_real_gap_predicted(audio_modality):
    batch = next(iter(audio_modality.datamodule(seed=0).val_dataloader()))
    waveform, sample_rate = audio_modality.render_sound(batch["observed"], batch["target"], batch["target"])
    assert sample_rate == 8000
    assert waveform.shape == (16 * 128 + 2000 + 16 * 128,)
    assert waveform[16 * 128 : 16 * 128 + 2000].abs().max().item() == 0.0
    assert waveform.abs().max().item() <= 1.0


def test_prompt_by_name_or_path(audio_modality, audio_folder):
    name = audio_modality.recordings["validation"][0].name
    by_name = audio_modality.prompt_units(name.removesuffix(".wav"))
    by_path = audio_modality.prompt_units(str(audio_folder / name))
    assert by_name.shape == (16, 16)
    torch.testing.assert_close(by_name, by_path)
    torch.testing.assert_close(by_name, audio_modality.windows["validation"][0, :16])


@pytest.mark.parametrize("prompt", ["", "absent", "synthetic_00"])
def test_prompt_neither_file_nor_validation_name(audio_modality, prompt):
    # synthetic_00 is a training recording, so it cannot be named as a prompt.
    assert "synthetic_00.wav" not in {recording.name for recording in audio_modality.recordings["validation"]}
    with pytest.raises(ConfigError, match="is neither an audio file"):
        audio_modality.prompt_units(prompt)


def test_choose_units_adds_noise_above_zero_temperature(audio_modality):
    prediction = torch.zeros(1, 1, 16)
    assert torch.equal(audio_modality.choose_units(prediction, temperature=0.0), prediction)
    sampled = audio_modality.choose_units(prediction, temperature=0.5, generator=torch.Generator().manual_seed(0))
    expected = 0.5 * torch.randn((1, 1, 16), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sampled, expected)


def test_write_units_writes_wav_and_picture(audio_modality, tmp_path):
    files = audio_modality.write_units(audio_modality.windows["validation"][0], tmp_path)
    assert [path.name for path in files] == ["generate.wav", "generate.png"]
    samples, rate = soundfile.read(str(tmp_path / "generate.wav"))
    assert rate == 8000
    assert samples.shape == (16 * 128,)
    assert "17 log-mel frames of 16 bins, 0.27 s at 8000 Hz" == audio_modality.render_units(audio_modality.windows["validation"][0])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_mels": 0}, "data.n_mels must be positive"),
        ({"sample_rate": 0}, "data.sample_rate must be positive"),
        ({"hop_length": 0}, "data.hop_length must be positive"),
        ({"n_fft": 0}, "data.n_fft must be positive"),
        ({"context_length": 0}, "data.context_length must be positive"),
        ({"batch_size": 0}, "data.batch_size must be positive"),
        ({"num_workers": -1}, "data.num_workers must be >= 0"),
        ({"n_fft": 64, "n_mels": 40}, "data.n_mels 40 exceeds the 33 frequency bins of data.n_fft=64"),
    ],
)
def test_rejects_impossible_data_config(values, message):
    with pytest.raises(ConfigError, match=message):
        AudioModality(AudioDataConfig(**values))


def test_rejects_recordings_shorter_than_context(tmp_path):
    write_synthetic_recordings(tmp_path, count=3, seconds=0.1)  # 7 frames each
    with pytest.raises(DataError, match="no validation recording .* is longer than data.context_length"):
        AudioModality(AudioDataConfig(path=str(tmp_path), context_length=16)).prepare()


def test_rejects_batch_larger_than_training_split(audio_modality, audio_values):
    modality = AudioModality(AudioDataConfig(**{**audio_values["data"], "batch_size": 81}))
    modality.windows = audio_modality.windows
    with pytest.raises(DataError, match="the training split has 80 sequences of 16 frames, fewer than one batch of data.batch_size=81"):
        modality.datamodule(seed=0)
