import numpy as np
import pytest
import soundfile
import torch

from ebtlab.errors import DataError
from ebtlab_audio import recordings
from ebtlab_audio.recordings import load_recordings, read_waveform, resolve_folder, split_names

from synthetic_audio import write_synthetic_recordings


def test_split_sizes_and_disjoint():
    names = [f"speaker/{index:03d}.wav" for index in range(100)]
    train, validation, test = split_names(names)
    assert (len(train), len(validation), len(test)) == (90, 5, 5)
    assert set(train).isdisjoint(validation)
    assert set(train).isdisjoint(test)
    assert set(validation).isdisjoint(test)
    assert sorted(train + validation + test) == names


def test_split_ignores_listing_order():
    names = [f"{index}.wav" for index in range(40)]
    assert split_names(names) == split_names(list(reversed(names)))


def test_split_stable_under_added_file():
    names = [f"{index}.wav" for index in range(40)]
    _, validation, _ = split_names(names)
    _, validation_more, _ = split_names(names + ["extra.wav"])
    assert len(set(validation) & set(validation_more)) >= len(validation) - 1


def test_every_recording_in_one_split(audio_modality):
    names = {split: {recording.name for recording in recordings} for split, recordings in audio_modality.recordings.items()}
    assert [len(names[split]) for split in ("train", "validation", "test")] == [20, 2, 2]
    assert names["train"].isdisjoint(names["validation"])
    assert names["train"].isdisjoint(names["test"])
    assert names["validation"].isdisjoint(names["test"])


def test_read_mixes_down_and_resamples(tmp_path):
    left = np.full(1600, 0.5, dtype=np.float32)
    right = np.full(1600, -0.25, dtype=np.float32)
    path = tmp_path / "stereo.flac"
    soundfile.write(str(path), np.stack((left, right), axis=1), 16000, subtype="PCM_16")
    waveform = read_waveform(path, 8000)
    assert waveform.shape == (800,)
    # The mean of the channels, 0.125, away from the edges that resampling filters.
    torch.testing.assert_close(waveform[100:700], torch.full((600,), 0.125), atol=1e-3, rtol=0)


def test_folder_searched_recursively(tmp_path):
    write_synthetic_recordings(tmp_path / "a", count=2, seconds=0.1)
    write_synthetic_recordings(tmp_path / "b", count=2, seconds=0.1)
    splits = load_recordings(tmp_path, 8000)
    names = sorted(recording.name for split in (splits.train, splits.validation, splits.test) for recording in split)
    assert names == ["a/synthetic_00.wav", "a/synthetic_01.wav", "b/synthetic_00.wav", "b/synthetic_01.wav"]
    assert all(recording.waveform.shape == (800,) for recording in splits.train)


def test_missing_default_folder_names_package(monkeypatch, tmp_path):
    monkeypatch.setattr(recordings, "ASTERISK_SOUNDS_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="install the Debian package asterisk-core-sounds-en-wav, or set data.path"):
        resolve_folder(None)


@pytest.mark.skipif(not recordings.ASTERISK_SOUNDS_DIR.is_dir(), reason="asterisk-core-sounds-en-wav is not installed")
def test_default_folder_is_asterisk_prompts():
    assert resolve_folder(None) == recordings.ASTERISK_SOUNDS_DIR
    assert len(recordings.audio_files(recordings.ASTERISK_SOUNDS_DIR)) == 568


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: folder / "absent", "data.path: folder not found"),
        (lambda folder: folder, r"data.path: no audio files \(.wav, .flac, .ogg\) in"),
        (lambda folder: write_synthetic_recordings(folder, count=2, seconds=0.1)[0].parent, "2 audio files in .*; at least 3 are needed"),
    ],
    ids=["missing", "empty", "two-files"],
)
def test_bad_folder_rejected(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_recordings(resolve_folder(str(make(tmp_path))), 8000)


def test_unreadable_file_named(tmp_path):
    write_synthetic_recordings(tmp_path, count=3, seconds=0.1)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not audio")
    with pytest.raises(DataError, match=r"cannot read audio file .*broken.wav: Format not recognised"):
        load_recordings(tmp_path, 8000)
