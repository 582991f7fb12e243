import math

import pytest
import torch

from ebtlab.nn import RMSNorm, RotaryEmbedding, SwiGLU, size_preset
from ebtlab.nn.attention import Attention, causal_attention


def test_rms_norm_unit_rms():
    x = torch.randn(3, 5, 16) * 7.0
    y = RMSNorm(16, eps=0.0)(x)
    torch.testing.assert_close(y.pow(2).mean(dim=-1), torch.ones(3, 5))


def test_rotary_rotates_pairs_by_position_angle():
    rotary = RotaryEmbedding(head_width=4, max_positions=8, base=10_000.0)
    x = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 4)
    rotated = rotary(x, torch.tensor([3]))
    # The first pair (components 0 and 2) turns by 3 radians at frequency 1.
    expected = torch.tensor([math.cos(3.0), 0.0, math.sin(3.0), 0.0])
    torch.testing.assert_close(rotated.view(4), expected)


def test_rotary_scores_depend_on_offset_only():
    rotary = RotaryEmbedding(head_width=8, max_positions=32)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(i, j):
        return (rotary(q, torch.tensor([i])) * rotary(k, torch.tensor([j]))).sum()

    torch.testing.assert_close(score(5, 2), score(20, 17))


def test_swiglu_hidden_width_defaults_to_width():
    layer = SwiGLU(12)
    assert layer.gate.out_features == 12
    assert SwiGLU(12, hidden_width=20).up.out_features == 20


def test_attention_is_causal():
    attention = Attention(16, heads=2)
    rotary = RotaryEmbedding(8, max_positions=16)
    x = torch.randn(2, 6, 16)
    positions = torch.arange(6)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, 16)
    out = attention(x, rotary, positions, causal_attention)
    out_changed = attention(changed, rotary, positions, causal_attention)
    torch.testing.assert_close(out[:, :4], out_changed[:, :4])
    assert not torch.allclose(out[:, 4:], out_changed[:, 4:])


def test_size_presets_match_published_table():
    assert size_preset("4xs").layers == 2
    assert size_preset("4xs").width == 128
    assert size_preset("xl").heads == 32
    with pytest.raises(KeyError, match="known presets: 4xs, 3xs"):
        size_preset("huge")
