import pytest
import torch
from torch.nn import functional as F

from ebtlab.config import build_config
from ebtlab.errors import ConfigError
from ebtlab.models import AutoregressiveTransformer, EnergyBasedTransformer
from ebtlab.nn import KeysValuesCache
from ebtlab.nn.presets import SIZE_PRESETS
from ebtlab.run import build_model

from tiny import merge


def make_baseline(kjv_modality, tiny_values, **changes):
    config, _ = build_config(merge(tiny_values, {"model": {"architecture": "transformer"}, **changes}))
    return build_model(kjv_modality, config)


def first_batch(kjv_modality):
    return next(iter(kjv_modality.datamodule(seed=0).train_dataloader()))


def test_loss_is_cross_entropy_of_head_logits(kjv_modality, tiny_values):
    model = make_baseline(kjv_modality, tiny_values)
    batch = first_batch(kjv_modality)
    hidden = model.network(model.encoder(batch["observed"]))
    logits = model.prediction_head(hidden)  # (B, S, V)
    assert logits.shape == (*batch["observed"].shape, kjv_modality.vocab_size)
    expected = F.cross_entropy(logits.flatten(0, 1), batch["target"].flatten(), ignore_index=-100)
    torch.testing.assert_close(model.training_loss(batch), expected)


def test_cached_forward_gives_same_logits(kjv_modality, tiny_values):
    model = make_baseline(kjv_modality, tiny_values)
    observed = first_batch(kjv_modality)["observed"][:2]  # (2, S)
    cache = KeysValuesCache()
    prompt = 5
    cached = [model(observed[:, :prompt], cache)]
    cached += [model(observed[:, i : i + 1], cache) for i in range(prompt, observed.shape[1])]
    torch.testing.assert_close(torch.cat(cached, dim=1), model(observed), rtol=0, atol=1e-5)


def test_training_steps_lower_the_loss(kjv_modality, tiny_values):
    model = make_baseline(kjv_modality, tiny_values)
    batch = first_batch(kjv_modality)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model.training_loss(batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_single_network_parameter_group(kjv_modality, tiny_values):
    model = make_baseline(kjv_modality, tiny_values)
    (group,) = model.configure_optimizers()["optimizer"].param_groups
    assert group["name"] == "network"
    assert len(group["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("size", list(SIZE_PRESETS))
def test_parameter_parity_with_ebt(kjv_modality, tiny_values, size):
    # Built on the meta device: shapes without memory, so the largest presets cost nothing.
    values = merge(tiny_values, {"model": {"size": size, "layers": None, "width": None, "heads": None}})
    ebt_config, _ = build_config(values)
    baseline_config, _ = build_config(merge(values, {"model": {"architecture": "transformer"}}))
    with torch.device("meta"):
        ebt = build_model(kjv_modality, ebt_config)
        baseline = build_model(kjv_modality, baseline_config)
    assert isinstance(ebt, EnergyBasedTransformer)
    assert isinstance(baseline, AutoregressiveTransformer)
    difference = abs(ebt.parameter_count() - baseline.parameter_count()) / baseline.parameter_count()
    assert difference < 0.01


def test_modality_without_head_is_rejected(kjv_modality, tiny_values, monkeypatch):
    monkeypatch.setattr(type(kjv_modality), "build_prediction_head", lambda self, width: None)
    with pytest.raises(ConfigError, match="modality 'text' provides no direct prediction head"):
        make_baseline(kjv_modality, tiny_values)
