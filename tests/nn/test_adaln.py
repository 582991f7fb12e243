import torch

from ebtlab.nn.adaln import AdaLNBlock, AdaLNTransformer
from ebtlab.nn.attention import second_order_attention
from ebtlab.nn.init import initialize_weights
from ebtlab.nn.norm import RMSNorm
from ebtlab.nn.positions import sincos_positions


def make_transformer(zero: bool) -> AdaLNTransformer:
    transformer = AdaLNTransformer(layers=2, width=16, heads=2, grid=(2, 3))
    initialize_weights(transformer)
    if zero:
        transformer.zero_initialize()
    return transformer


def test_zero_initialised_blocks_are_identity():
    transformer = make_transformer(zero=True)
    x, condition = torch.randn(3, 6, 16), torch.randn(3, 16)
    expected = RMSNorm(16, gain=False)(x + sincos_positions((2, 3), 16))
    torch.testing.assert_close(transformer(x, condition), expected)


def test_condition_changes_output():
    transformer = make_transformer(zero=False)
    x = torch.randn(2, 6, 16)
    first, second = torch.randn(1, 16).expand(2, 16), torch.randn(1, 16).expand(2, 16)
    assert not torch.allclose(transformer(x, first), transformer(x, second))


def test_every_unit_sees_every_unit():
    block = AdaLNBlock(16, 2)
    initialize_weights(block)
    x, condition = torch.randn(1, 6, 16, requires_grad=True), torch.randn(1, 16)
    (jacobian,) = torch.autograd.grad(block(x, condition)[0, 0].sum(), x)
    assert (jacobian.abs().sum(dim=-1) > 0).all()  # unit 0 depends on units 0..5


def test_second_order_gradient_matches_finite_difference():
    transformer = make_transformer(zero=False).double()
    condition = torch.randn(1, 16, dtype=torch.float64)

    def input_gradient(x):
        with second_order_attention():
            (gradient,) = torch.autograd.grad(transformer(x, condition).pow(2).sum(), x, create_graph=True)
        return gradient.sum()

    assert torch.autograd.gradcheck(input_gradient, (torch.randn(1, 6, 16, dtype=torch.float64, requires_grad=True),))
