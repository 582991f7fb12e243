import pytest

from ebtlab.nn import size_preset


def test_size_presets_match_published_table():
    assert size_preset("4xs").layers == 2
    assert size_preset("4xs").width == 128
    assert size_preset("xl").heads == 32
    with pytest.raises(KeyError, match="known presets: 4xs, 3xs"):
        size_preset("huge")
