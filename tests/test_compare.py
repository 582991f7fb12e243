import json

import pytest

from ebtlab.compare import baseline_config, compare
from ebtlab.config import build_config
from ebtlab.cost import training_step_flops
from ebtlab.errors import ConfigError
from ebtlab.run import build_model, fit

from tiny import merge


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, kjv_modality):
    """One tiny comparison on the King James Bible, shared by the tests below."""
    from tiny import TINY_VALUES

    config, _ = build_config(merge(TINY_VALUES, {"runs_dir": str(tmp_path_factory.mktemp("runs"))}))
    run_dir, report = compare(config, kjv_modality)
    return config, kjv_modality, run_dir, report


def test_report_files_written(comparison):
    _, _, run_dir, report = comparison
    for name in ("compare.md", "compare.json", "compare.png", "ebt/checkpoints/last.ckpt", "transformer/checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "compare.json").read_text()) == report
    table = (run_dir / "compare.md").read_text()
    assert "| ebt |" in table
    assert "| transformer |" in table


def test_both_models_see_same_data(comparison):
    config, _, _, report = comparison
    ebt, baseline = report["models"]["ebt"], report["models"]["transformer"]
    units_per_step = config.data.batch_size * config.data.context_length
    for model in (ebt, baseline):
        assert model["steps"] == config.trainer.max_steps
        assert model["units_seen"] == config.trainer.max_steps * units_per_step
        assert [point["step"] for point in model["history"]] == [2, 4]
        assert [point["units_seen"] for point in model["history"]] == [2 * units_per_step, 4 * units_per_step]


def test_training_flops_are_counted_per_step(comparison):
    config, modality, _, report = comparison
    batch = next(iter(modality.datamodule(seed=0).train_dataloader()))
    for name, model_config in (("ebt", config), ("transformer", baseline_config(config))):
        model = report["models"][name]
        assert model["flops_per_step"] == training_step_flops(build_model(modality, model_config), batch)
        assert model["training_flops"] == model["flops_per_step"] * model["steps"]
        assert [point["training_flops"] for point in model["history"]] == [2 * model["flops_per_step"], 4 * model["flops_per_step"]]
    assert report["models"]["ebt"]["flops_per_step"] > 3 * report["models"]["transformer"]["flops_per_step"]


def test_counting_does_not_change_training(comparison, tmp_path):
    config, modality, _, report = comparison
    config.runs_dir = str(tmp_path)
    _, metrics = fit(config, modality)
    assert report["models"]["ebt"]["validation"]["loss"] == metrics["val/loss"]


def test_baseline_is_derived_from_ebt_config(comparison):
    config = comparison[0]
    baseline = baseline_config(config)
    assert baseline.model.architecture == "transformer"
    assert (baseline.model.size, baseline.model.layers, baseline.model.width) == (config.model.size, config.model.layers, config.model.width)
    assert baseline.data == config.data
    assert baseline.optim == config.optim
    assert config.model.architecture == "ebt"


def test_compare_rejects_baseline_config(tiny_values, kjv_modality):
    config, _ = build_config(merge(tiny_values, {"model": {"architecture": "transformer"}}))
    with pytest.raises(ConfigError, match="compare trains an EBT and derives its baseline"):
        compare(config, kjv_modality)


def test_report_has_thinking_gains(comparison):
    _, _, run_dir, report = comparison
    thinking = report["thinking"]
    assert thinking["steps"] == [1, 2, 3, 4]
    assert thinking["candidates"] == [1, 4]
    validation = thinking["sets"]["validation"]
    assert len(validation["losses"]) == 8
    default = thinking["chosen"]["default"]
    assert default == "steps=2,candidates=1"
    assert thinking["chosen"]["longer"].endswith(",candidates=1")
    assert validation["losses"][thinking["chosen"]["longer_and_verified"]] == min(validation["losses"].values())
    longer = validation["losses"][thinking["chosen"]["longer"]]
    assert validation["loss_gain_longer_percent"] == pytest.approx(100 * (1 - longer / validation["losses"][default]))
    assert validation["loss_gain_longer_percent"] >= 0  # the default point is one of the candidates for "longer"
    assert "Thinking gain in loss" in (run_dir / "compare.md").read_text()
