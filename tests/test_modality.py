import pytest

from ebtlab.modality import ENTRY_POINT_GROUP, Modality, load_modality, registered_modalities
from ebtlab_text import TextModality


def test_text_registered_through_entry_point():
    registered = registered_modalities()
    assert registered["text"].group == ENTRY_POINT_GROUP
    assert load_modality("text") is TextModality
    assert issubclass(TextModality, Modality)


def test_unknown_modality_lists_known():
    with pytest.raises(KeyError) as error:
        load_modality("smell")
    assert "registered modalities: audio, image, text" in str(error.value)
