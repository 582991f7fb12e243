import torch

from ebtlab.nn import RotaryEmbedding, TransformerBlock
from ebtlab.nn.attention import causal_attention


def test_block_with_zero_output_layers_is_identity():
    block = TransformerBlock(16, heads=2)
    torch.nn.init.zeros_(block.attention.out.weight)
    torch.nn.init.zeros_(block.feed_forward.down.weight)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(block(x, RotaryEmbedding(8, 8), torch.arange(5), causal_attention), x)


def test_block_is_pre_norm_residual():
    block = TransformerBlock(16, heads=2)
    rotary, positions = RotaryEmbedding(8, 8), torch.arange(5)
    x = torch.randn(2, 5, 16)
    after_attention = x + block.attention(block.attention_norm(x), rotary, positions, causal_attention)
    expected = after_attention + block.feed_forward(block.feed_forward_norm(after_attention))
    torch.testing.assert_close(block(x, rotary, positions, causal_attention), expected)
