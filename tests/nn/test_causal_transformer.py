import pytest
import torch

from ebtlab.nn import CausalTransformer, KeysValuesCache


def make_network(max_context: int = 12) -> CausalTransformer:
    return CausalTransformer(layers=2, width=16, heads=2, max_context=max_context)


def test_cached_token_by_token_matches_full_forward():
    network = make_network()
    x = torch.randn(3, 10, 16)
    full = network(x)
    cache = KeysValuesCache()
    incremental = torch.cat([network(x[:, i : i + 1], cache) for i in range(10)], dim=1)
    torch.testing.assert_close(incremental, full, rtol=0, atol=1e-5)
    assert cache.length == 10


def test_cached_chunks_match_full_forward():
    network = make_network()
    x = torch.randn(2, 10, 16)
    cache = KeysValuesCache()
    chunks = [network(x[:, :4], cache), network(x[:, 4:5], cache), network(x[:, 5:], cache)]
    torch.testing.assert_close(torch.cat(chunks, dim=1), network(x), rtol=0, atol=1e-5)


def test_later_units_do_not_change_earlier_outputs():
    network = make_network()
    x = torch.randn(2, 8, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(2, 3, 16)
    torch.testing.assert_close(network(changed)[:, :5], network(x)[:, :5])
    assert not torch.allclose(network(changed)[:, 5:], network(x)[:, 5:])


def test_sequence_longer_than_max_context_is_rejected():
    network = make_network(max_context=6)
    cache = KeysValuesCache()
    network(torch.randn(1, 4, 16), cache)
    with pytest.raises(ValueError, match="7 units exceeds the model's max_context of 6"):
        network(torch.randn(1, 3, 16), cache)
