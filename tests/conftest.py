import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebtlab.cli import main
from ebtlab.config import build_config
from ebtlab.run import prepare_modality
from ebtlab_audio import AudioModality
from ebtlab_image import ImageModality
from ebtlab_text import TextModality
from ebtlab_text.corpus import king_james_chapters
from synthetic_audio import write_synthetic_recordings
from tiny import TINY_AUDIO_VALUES, TINY_IMAGE_VALUES, TINY_VALUES, merge


@pytest.fixture
def tiny_values(tmp_path) -> dict:
    """Plain config values of a tiny text EBT whose runs go under a temporary folder."""
    return merge(TINY_VALUES, {"runs_dir": str(tmp_path / "runs")})


@pytest.fixture(scope="session")
def kjv_modality() -> TextModality:
    """The text modality over the King James Bible with a 300-token vocabulary, prepared once."""
    return prepare_modality(*build_config(copy.deepcopy(TINY_VALUES)))


@pytest.fixture(scope="session")
def image_modality() -> ImageModality:
    """The image modality over the built-in real images (whichever this machine has), prepared once."""
    return prepare_modality(*build_config(copy.deepcopy(TINY_IMAGE_VALUES)))


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory) -> Path:
    """24 synthetic recordings of 1.2 s at 8 kHz: 20 training, 2 validation and 2 test files."""
    folder = tmp_path_factory.mktemp("recordings")
    write_synthetic_recordings(folder)
    return folder


@pytest.fixture(scope="session")
def audio_values(audio_folder) -> dict:
    """Plain config values of a tiny audio EBT over the synthetic recordings."""
    return merge(TINY_AUDIO_VALUES, {"data": {"path": str(audio_folder)}})


@pytest.fixture(scope="session")
def audio_modality(audio_values) -> AudioModality:
    """The audio modality over the synthetic recordings, prepared once."""
    return prepare_modality(*build_config(copy.deepcopy(audio_values)))


# A toy modality in its own package, registered through the `ebtlab.modalities` entry point.
SINE_PACKAGE = Path(__file__).resolve().parent / "third_party" / "ebtlab_sine"


@pytest.fixture(scope="session")
def sine_site(tmp_path_factory) -> Path:
    """A folder into which pip has installed the third-party package ebtlab_sine, outside the virtual environment."""
    site = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(SINE_PACKAGE)]
    subprocess.run(command, check=True, capture_output=True)
    return site


@pytest.fixture
def sine_installed(sine_site, monkeypatch) -> Path:
    """Put the installed ebtlab_sine on sys.path for one test, so that its entry point is registered."""
    monkeypatch.syspath_prepend(str(sine_site))
    return sine_site


@pytest.fixture(autouse=True)
def fixed_seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """Twenty short King James chapters: about seven training batches of the tiny config per epoch."""
    path = tmp_path_factory.mktemp("corpus") / "kjv.txt"
    path.write_text("\n\n".join(chapter[:40] for chapter in king_james_chapters()[:20]), encoding="utf-8")
    return path


# Overrides that shrink the default job to a tiny model on the small corpus, so errors raised
# late in `fit` come within seconds.
SMALL = [
    "data.files=[{corpus}]",
    "data.vocab_size=300",
    "data.context_length=16",
    "data.batch_size=4",
    "model.layers=1",
    "model.width=32",
    "model.heads=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.limit_val_batches=1",
]


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory, small_corpus) -> dict[str, Path]:
    """A finished tiny run and files that are wrong in one way each, for the error table below."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    small = [item.format(corpus=small_corpus) for item in SMALL]
    assert main(["fit", *small, f"runs_dir={folder / 'runs'}", "trainer.max_steps=2", "trainer.val_every_n_steps=2"]) == 0
    run = next((folder / "runs").glob("*/version_0"))
    last = run / "checkpoints" / "last.ckpt"
    paths = {"run": run, "last": last, "corpus": small_corpus}

    paths["broken_yaml"] = folder / "broken.yaml"
    paths["broken_yaml"].write_text("trainer:\n  max_steps: [1, 2\n")
    paths["empty"] = folder / "empty.txt"
    paths["empty"].write_text("\n\n")
    paths["latin1"] = folder / "latin1.txt"
    paths["latin1"].write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    paths["few_documents"] = folder / "few.txt"
    paths["few_documents"].write_text("\n\n".join(f"document {index}" for index in range(5)))

    paths["truncated"] = folder / "truncated" / "checkpoints" / "last.ckpt"
    paths["truncated"].parent.mkdir(parents=True)
    paths["truncated"].write_bytes(last.read_bytes()[:2000])
    checkpoint = torch.load(last, weights_only=True)
    paths["tampered"] = folder / "tampered" / "checkpoints" / "last.ckpt"
    paths["tampered"].parent.mkdir(parents=True)
    torch.save({**checkpoint, "payload": os.system}, paths["tampered"])  # pickled as a reference to code
    paths["foreign"] = folder / "foreign.ckpt"
    torch.save({"state_dict": checkpoint["state_dict"]}, paths["foreign"])
    paths["other_shape"] = folder / "other_shape" / "checkpoints" / "last.ckpt"
    paths["other_shape"].parent.mkdir(parents=True)
    config = copy.deepcopy(checkpoint["ebtlab"]["config"])
    config["model"]["width"] = 64
    torch.save({**checkpoint, "ebtlab": {**checkpoint["ebtlab"], "config": config}}, paths["other_shape"])
    paths["outside"] = folder / "outside.ckpt"
    paths["outside"].write_bytes(last.read_bytes())

    paths["no_audio"] = folder / "no_audio"
    paths["no_audio"].mkdir()
    (paths["no_audio"] / "notes.txt").write_text("not a recording")
    paths["broken_audio"] = folder / "broken_audio"
    write_synthetic_recordings(paths["broken_audio"], count=3, seconds=0.5)
    (paths["broken_audio"] / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not audio")
    return paths
