import copy

import pytest
import torch

from ebtlab.config import build_config
from ebtlab_image import ImageModality
from ebtlab_text import TextModality
from tiny import TINY_IMAGE_VALUES, TINY_VALUES, merge


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


@pytest.fixture(scope="session")
def image_modality() -> ImageModality:
    """The image modality over the built-in real images (whichever this machine has), prepared once."""
    config, _ = build_config(copy.deepcopy(TINY_IMAGE_VALUES))
    modality = ImageModality(config.data)
    modality.prepare()
    return modality


@pytest.fixture(autouse=True)
def fixed_seed():
    torch.manual_seed(0)
