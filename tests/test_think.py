import json
import math

import pytest
import torch

from ebtlab.config import build_config
from ebtlab.errors import ConfigError
from ebtlab.run import fit, load_model, validate
from ebtlab.think import add_gains, evaluate_ebt_grid, pearson_correlation, rank_correlation, think
from ebtlab_text import TextModality

from tiny import merge


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, kjv_modality):
    """Tiny EBT (one shared landscape) and baseline checkpoints, trained for a few steps."""
    from tiny import TINY_VALUES

    runs = tmp_path_factory.mktemp("runs")
    paths = {}
    for name, changes in (("ebt", {"ebt": {"landscapes": "shared"}}), ("transformer", {"model": {"architecture": "transformer"}})):
        config, _ = build_config(merge(TINY_VALUES, {"runs_dir": str(runs), "experiment": name, **changes}))
        run_dir, _ = fit(config, kjv_modality)
        paths[name] = run_dir / "checkpoints" / "last.ckpt"
    return runs, paths


@pytest.fixture
def validation_only(monkeypatch):
    """Evaluate on the KJV validation split and the ASV chapters only, to keep the tests fast."""
    evaluation_sets = TextModality.evaluation_sets

    def two_sets(self):
        sets = evaluation_sets(self)
        return {name: sets[name] for name in ("kjv_validation", "asv_bible")}

    monkeypatch.setattr(TextModality, "evaluation_sets", two_sets)


def test_grid_default_point_equals_validate(checkpoints, validation_only):
    runs, paths = checkpoints
    overrides = [f"runs_dir={runs}"]
    _, report = think(paths["ebt"], overrides, steps=[2], candidates=[1])
    metrics = validate(paths["ebt"], overrides)
    assert report["sets"]["kjv_validation"]["losses"]["steps=2,candidates=1"] == pytest.approx(metrics["val/loss"], abs=1e-5)


def test_grid_points_equal_separate_evaluations(checkpoints):
    _, paths = checkpoints
    model, _ = load_model(paths["ebt"], [])
    loader = model.modality.datamodule(seed=0).val_dataloader()

    def evaluate(steps, candidates):
        result = evaluate_ebt_grid(model, loader, steps=steps, candidates=candidates, default_steps=2, max_batches=1, seed=0)
        return result["losses"]

    grid = evaluate([1, 2, 3], [1, 3])
    for k, n in ((1, 1), (3, 1), (1, 3), (3, 3)):
        key = f"steps={k},candidates={n}"
        assert grid[key] == pytest.approx(evaluate([k, 2], [n])[key], abs=1e-6)


def test_think_writes_report(checkpoints, validation_only):
    runs, paths = checkpoints
    run_dir, report = think(paths["ebt"], [f"runs_dir={runs}"], steps=[1, 2, 3], candidates=[1, 2], baseline=paths["transformer"])
    for name in ("think.json", "think.md", "think.png", "think_confidence.png"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "think.json").read_text()) == report
    assert report["default_steps"] == 2
    assert set(report["baseline"]) == {"kjv_validation", "asv_bible"}
    in_distribution = report["sets"]["kjv_validation"]
    assert len(in_distribution["losses"]) == 6
    assert in_distribution["shift_ratio"] == 1.0
    assert -1 <= in_distribution["energy_loss_spearman"] <= 1
    assert "| asv_bible |" in (run_dir / "think.md").read_text()


def test_think_on_baseline_checkpoint(checkpoints, validation_only):
    runs, paths = checkpoints
    run_dir, report = think(paths["transformer"], [f"runs_dir={runs}"], steps=[1], candidates=[1])
    assert report["architecture"] == "transformer"
    metrics = validate(paths["transformer"], [f"runs_dir={runs}"])
    assert report["sets"]["kjv_validation"]["loss"] == pytest.approx(metrics["val/loss"], abs=1e-5)
    assert (run_dir / "think.png").is_file()


def test_gains_use_in_distribution_choice(kjv_modality):
    losses = {
        "kjv": {"steps=1,candidates=1": 3.0, "steps=2,candidates=1": 2.0, "steps=1,candidates=2": 2.5, "steps=2,candidates=2": 1.5},
        "shifted": {"steps=1,candidates=1": 4.0, "steps=2,candidates=1": 4.5, "steps=1,candidates=2": 1.0, "steps=2,candidates=2": 3.0},
    }
    report = {"default_steps": 1, "sets": {name: {"losses": values} for name, values in losses.items()}}
    add_gains(report, kjv_modality)  # text: gains in perplexity
    assert report["chosen"] == {"default": "steps=1,candidates=1", "longer": "steps=2,candidates=1", "longer_and_verified": "steps=2,candidates=2"}
    shifted = report["sets"]["shifted"]
    assert shifted["shift_ratio"] == pytest.approx(math.exp(4.0 - 3.0))
    assert shifted["gain_longer_percent"] == pytest.approx(100 * (1 - math.exp(0.5)))
    assert shifted["gain_longer_and_verified_percent"] == pytest.approx(100 * (1 - math.exp(-1.0)))


def test_gains_compare_loss_without_summary_metric(image_modality):
    losses = {"steps=1,candidates=1": 0.2, "steps=2,candidates=1": 0.1}
    report = {"default_steps": 1, "sets": {"validation": {"losses": losses}}}
    add_gains(report, image_modality)
    assert report["sets"]["validation"]["score"]["default"] == 0.2
    assert report["sets"]["validation"]["gain_longer_percent"] == pytest.approx(50.0)


def test_correlations_closed_form():
    first = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert pearson_correlation(first, 2 * first + 1) == pytest.approx(1.0)
    assert pearson_correlation(first, -first) == pytest.approx(-1.0)
    assert rank_correlation(first, first.pow(3)) == pytest.approx(1.0)
    assert rank_correlation(first, torch.tensor([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)


def test_think_rejects_nonpositive_grid(checkpoints):
    with pytest.raises(ConfigError, match="positive integers"):
        think(checkpoints[1]["ebt"], [], steps=[0], candidates=[1])
