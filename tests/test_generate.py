import json

import pytest
import torch

from ebtlab.config import build_config
from ebtlab.errors import ConfigError
from ebtlab.generate import generate, generate_from_checkpoint
from ebtlab.run import build_model, fit

from tiny import merge


def make_model(kjv_modality, tiny_values, **changes):
    config, _ = build_config(merge(tiny_values, changes))
    torch.manual_seed(0)
    return build_model(kjv_modality, config).eval()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"thinking": {"descent_steps": 3, "candidates": 2}},
        {"thinking": {"accept_lower": True}},
        {"model": {"architecture": "transformer"}},
    ],
    ids=["ebt", "ebt-thinking", "ebt-accept-lower", "transformer"],
)
def test_cached_generation_matches_uncached(kjv_modality, tiny_values, changes, temperature):
    model = make_model(kjv_modality, tiny_values, **changes)
    prompt = kjv_modality.prompt_units("In the beginning God created")
    # 24 new tokens at context 16: the sequence is cropped and the cache rebuilt on the way.
    cached = generate(model, prompt, new_units=24, temperature=temperature, seed=3, cached=True)
    uncached = generate(model, prompt, new_units=24, temperature=temperature, seed=3, cached=False)
    assert torch.equal(cached.units, uncached.units)
    assert cached.units.shape == (prompt.shape[0] + 24,)
    assert torch.equal(cached.units[: prompt.shape[0]], prompt)
    torch.testing.assert_close(torch.tensor(cached.energies), torch.tensor(uncached.energies), rtol=0, atol=1e-5)
    is_ebt = "model" not in changes
    assert len(cached.energies) == (24 if is_ebt else 0)


def test_greedy_token_is_argmax_of_prediction(kjv_modality, tiny_values):
    model = make_model(kjv_modality, tiny_values, model={"architecture": "transformer"})
    prompt = kjv_modality.prompt_units("And God said")
    generation = generate(model, prompt, new_units=1, temperature=0.0, seed=0)
    with torch.no_grad():
        expected = model(prompt[None])[0, -1].argmax()
    assert generation.units[-1] == expected


def test_generate_from_checkpoint_writes_report(kjv_modality, tiny_values, tmp_path):
    config, _ = build_config(tiny_values)
    run_dir, _ = fit(config, kjv_modality)
    out_dir, report = generate_from_checkpoint(
        run_dir / "checkpoints" / "last.ckpt", "And God said", [f"runs_dir={tmp_path}"], new_units=5, temperature=0.0, cached=True
    )
    assert json.loads((out_dir / "generate.json").read_text()) == report
    assert report["rendered"].startswith("And God said")
    assert report["files"] == []
    assert report["units_per_second"] > 0
    assert len(report["energies"]) == 5


@pytest.mark.parametrize(("new_units", "temperature", "message"), [(0, 0.0, "--max-new-units"), (3, -1.0, "--temperature")])
def test_generate_rejects_bad_settings(kjv_modality, tiny_values, new_units, temperature, message):
    model = make_model(kjv_modality, tiny_values)
    with pytest.raises(ConfigError, match=message):
        generate(model, kjv_modality.prompt_units("And"), new_units=new_units, temperature=temperature, seed=0)


def test_empty_prompt_rejected(kjv_modality):
    with pytest.raises(ConfigError, match="--prompt is empty"):
        kjv_modality.prompt_units("")
