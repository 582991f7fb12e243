import math

import pytest

from ebtlab.models.schedule import warmup_cosine


def test_warmup_is_linear():
    assert warmup_cosine(0, warmup_steps=4, total_steps=20) == pytest.approx(0.25)
    assert warmup_cosine(3, warmup_steps=4, total_steps=20) == pytest.approx(1.0)


def test_cosine_decays_to_a_tenth():
    assert warmup_cosine(4, warmup_steps=4, total_steps=20) == pytest.approx(1.0)
    assert warmup_cosine(12, warmup_steps=4, total_steps=20) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert warmup_cosine(20, warmup_steps=4, total_steps=20) == pytest.approx(0.1)
    assert warmup_cosine(30, warmup_steps=4, total_steps=20) == pytest.approx(0.1)


def test_no_warmup():
    assert warmup_cosine(0, warmup_steps=0, total_steps=10) == pytest.approx(1.0)
