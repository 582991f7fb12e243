import torch

from ebtlab.nn import RotaryEmbedding
from ebtlab.nn.attention import Attention, causal_attention


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
