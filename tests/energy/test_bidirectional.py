import pytest
import torch

from ebtlab.energy import BidirectionalEnergyTransformer
from ebtlab.nn.init import initialize_weights


def make_network(zero: bool = False) -> BidirectionalEnergyTransformer:
    network = BidirectionalEnergyTransformer(layers=2, width=16, heads=2, grid=(3, 3), landscapes=2)
    initialize_weights(network, std=0.2)
    if zero:
        network.zero_initialize()
    return network


def test_energy_is_mean_of_unit_energies():
    network = make_network()
    candidate = torch.randn(4, 9, 16)
    energy = network(candidate, 0)
    assert energy.shape == (4, 1)
    torch.testing.assert_close(energy[:, 0], network.unit_energies(candidate, 0).mean(dim=1))


@pytest.mark.parametrize("unit", range(9))
def test_energy_depends_on_every_unit(unit):
    network = make_network()
    candidate = torch.randn(2, 9, 16)
    changed = candidate.clone()
    changed[:, unit] += 1.0
    with torch.no_grad():
        assert (network(changed, 0) != network(candidate, 0)).all()


def test_landscapes_differ():
    network = make_network()
    candidate = torch.randn(2, 9, 16)
    assert not torch.allclose(network(candidate, 0), network(candidate, 1))


def test_zero_initialised_energy_is_flat():
    network = make_network(zero=True)
    candidate = torch.randn(2, 9, 16, requires_grad=True)
    energy = network(candidate, 1)
    (gradient,) = torch.autograd.grad(energy.sum(), candidate)
    assert torch.equal(energy, torch.zeros(2, 1))
    assert torch.equal(gradient, torch.zeros_like(candidate))
