import copy

import pytest

from ebtlab.config import build_config
from ebtlab_image import ImageModality
from tiny import TINY_IMAGE_VALUES


@pytest.fixture(scope="session")
def image_modality() -> ImageModality:
    """The image modality over the built-in real images (whichever this machine has), prepared once."""
    config, _ = build_config(copy.deepcopy(TINY_IMAGE_VALUES))
    modality = ImageModality(config.data)
    modality.prepare()
    return modality
