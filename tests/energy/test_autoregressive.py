import pytest
import torch

from ebtlab.energy import AutoregressiveEnergyTransformer
from ebtlab.energy.autoregressive import observed_candidate_mask
from ebtlab.nn.attention import causal_attention, second_order_attention

B, S, D = 2, 5, 16


def make_network(attention="two_part", dtype=torch.float32, layers=2):
    network = AutoregressiveEnergyTransformer(
        layers=layers, width=D, heads=2, max_context=8, landscapes=2, attention=attention
    )
    for parameter in network.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    return network.to(dtype)


def test_mask_pattern_small_case():
    mask = observed_candidate_mask(2).long()
    # rows/cols: landscape, observed 0, observed 1, candidate 0, candidate 1
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0],
            [1, 1, 0, 1, 0],
            [1, 1, 1, 0, 1],
        ]
    )
    torch.testing.assert_close(mask, expected)


def test_two_part_equals_single_masked_call():
    fast = make_network("two_part")
    reference = make_network("masked")
    reference.load_state_dict(fast.state_dict())
    observed, candidate = torch.randn(B, S, D), torch.randn(B, S, D)
    for landscape in (0, 1):
        torch.testing.assert_close(fast(observed, candidate, landscape), reference(observed, candidate, landscape))


def naive_energies(network, observed, candidate, landscape):
    """Energy i from a plain causal pass over [landscape, observed 0..i, candidate i], one position at a time."""
    energies = []
    for i in range(observed.shape[1]):
        x = torch.cat((network.landscape(landscape, observed.shape[0]), observed[:, : i + 1], candidate[:, i : i + 1]), dim=1)
        positions = torch.cat((torch.arange(i + 2), torch.tensor([i + 2])))
        for block in network.blocks:
            x = block(x, network.rotary, positions, causal_attention)
        energies.append(network.energy_head(network.energy_norm(x[:, -1])).squeeze(-1))
    return torch.stack(energies, dim=1)


@pytest.mark.parametrize("attention", ["two_part", "masked"])
def test_energies_equal_naive_per_position_reference(attention):
    network = make_network(attention)
    observed, candidate = torch.randn(B, S, D), torch.randn(B, S, D)
    torch.testing.assert_close(network(observed, candidate, 1), naive_energies(network, observed, candidate, 1))


@pytest.mark.parametrize("attention", ["two_part", "masked"])
def test_no_leakage_from_later_observed_units(attention):
    network = make_network(attention)
    observed, candidate = torch.randn(B, S, D), torch.randn(B, S, D)
    t = 2
    changed = observed.clone()
    changed[:, t + 1] = torch.randn(B, D)
    before, after = network(observed, candidate, 0), network(changed, candidate, 0)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1])
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_candidate_changes_only_its_own_energy():
    network = make_network()
    observed, candidate = torch.randn(B, S, D), torch.randn(B, S, D)
    changed = candidate.clone()
    changed[:, 3] = torch.randn(B, D)
    difference = (network(observed, candidate, 0) - network(observed, changed, 0)).abs()
    assert torch.all(difference[:, [0, 1, 2, 4]] == 0)
    assert torch.all(difference[:, 3] > 0)


def test_landscapes_give_different_energies():
    network = make_network()
    observed, candidate = torch.randn(B, S, D), torch.randn(B, S, D)
    assert not torch.allclose(network(observed, candidate, 0), network(observed, candidate, 1))


@pytest.mark.parametrize("attention", ["two_part", "masked"])
def test_energy_gradient_gradcheck_float64(attention):
    network = make_network(attention, dtype=torch.float64, layers=1)
    observed = torch.randn(1, 3, D, dtype=torch.float64)
    candidate = torch.randn(1, 3, D, dtype=torch.float64, requires_grad=True)
    with second_order_attention():
        assert torch.autograd.gradcheck(lambda c: network(observed, c, 0), (candidate,))
        assert torch.autograd.gradgradcheck(lambda c: network(observed, c, 0), (candidate,))


def test_masked_call_needs_math_backend_for_double_backward():
    network = make_network("masked")
    observed = torch.randn(1, 3, D)
    candidate = torch.randn(1, 3, D, requires_grad=True)

    def second_order_gradient():
        (gradient,) = torch.autograd.grad(network(observed, candidate, 0).sum(), candidate, create_graph=True)
        return torch.autograd.grad(gradient.square().sum(), network.energy_head.weight)

    with second_order_attention():
        second_order_gradient()
    with pytest.raises(RuntimeError, match="not implemented"):
        second_order_gradient()


def test_rejects_context_beyond_max():
    network = make_network()
    with pytest.raises(ValueError, match="exceeds the model's max_context of 8"):
        network(torch.randn(1, 9, D), torch.randn(1, 9, D), 0)


def test_energy_function_observes_once_per_landscape(monkeypatch):
    network = make_network()
    observed = torch.randn(B, S, D)
    cases = [(landscape, torch.randn(B, S, D)) for landscape in (0, 0, 1, 0, 1)]
    expected = [network(observed, candidate, landscape) for landscape, candidate in cases]

    calls = []
    observe = network.observe
    monkeypatch.setattr(network, "observe", lambda *args: calls.append(args[1]) or observe(*args))
    energy = network.energy_function(observed)
    for (landscape, candidate), reference in zip(cases, expected):
        torch.testing.assert_close(energy(candidate, landscape), reference)
    assert calls == [0, 1]


def test_two_part_second_order_needs_no_math_backend():
    # The prefix stream does not depend on the candidates, so no attention kernel on the
    # candidate path has to support double backward.
    network = make_network("two_part")
    observed = torch.randn(1, 3, D)
    candidate = torch.randn(1, 3, D, requires_grad=True)
    (gradient,) = torch.autograd.grad(network(observed, candidate, 0).sum(), candidate, create_graph=True)
    (second,) = torch.autograd.grad(gradient.square().sum(), network.blocks[0].attention.qkv.weight)
    assert second.abs().sum() > 0


def test_more_candidates_than_observed_units_rejected():
    network = make_network()
    prefix = network.observe(torch.randn(1, 4, D), 0)
    with pytest.raises(ValueError, match="5 candidates need at least 5 observed units, the prefix has 4"):
        network.candidate_energies(prefix, torch.randn(1, 5, D))


def test_fewer_candidates_score_the_last_units():
    network = make_network()
    observed, candidate = torch.randn(2, 6, D), torch.randn(2, 6, D)
    prefix = network.observe(observed, 1)
    full = network.candidate_energies(prefix, candidate)  # (2, 6)
    torch.testing.assert_close(network.candidate_energies(prefix, candidate[:, -2:]), full[:, -2:])
    torch.testing.assert_close(network.candidate_energies(prefix, candidate[:, -1:]), full[:, -1:])


def test_incremental_prefix_equals_full_prefix():
    network = make_network()
    observed = torch.randn(2, 7, D)
    full = network.observe(observed, 1)
    cache = network.observe(observed[:, :3], 1)
    for unit in range(3, 7):
        cache = network.observe(observed[:, unit : unit + 1], 1, cache)
    assert cache.length == full.length == 8
    for cached, recomputed in zip(cache.keys + cache.values, full.keys + full.values):
        torch.testing.assert_close(cached, recomputed, rtol=0, atol=1e-5)
