import copy
from pathlib import Path

import pytest
import torch

from ebtlab.config import build_config
from ebtlab_text import TextModality
from ebtlab_text.corpus import king_james_chapters
from tiny import TINY_VALUES, merge


@pytest.fixture
def tiny_values(tmp_path) -> dict:
    """Plain config values of a tiny text EBT whose runs go under a temporary folder."""
    return merge(TINY_VALUES, {"runs_dir": str(tmp_path / "runs")})


@pytest.fixture(scope="session")
def kjv_modality() -> TextModality:
    """The text modality over the King James Bible with a 300-token vocabulary, prepared once."""
    config, _ = build_config(copy.deepcopy(TINY_VALUES))
    modality = TextModality(config.data)
    modality.prepare()
    return modality


@pytest.fixture(autouse=True)
def fixed_seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """Twenty short King James chapters: about seven training batches of the tiny config per epoch."""
    path = tmp_path_factory.mktemp("corpus") / "kjv.txt"
    path.write_text("\n\n".join(chapter[:40] for chapter in king_james_chapters()[:20]), encoding="utf-8")
    return path
