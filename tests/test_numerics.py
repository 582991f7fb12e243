import math
from pathlib import Path

import pytest
import torch
import yaml

import ebtlab.models.ebt
from ebtlab.checkpoint import read_checkpoint
from ebtlab.cli import main
from ebtlab.descent import DescentResult
from ebtlab.numerics import NonFiniteCheck, NumericalError, finite_flags

from tiny import fit_values, merge


def descent_result(energy_value: float = 0.0, candidate_value: float = 0.0) -> DescentResult:
    return DescentResult(
        candidates=[torch.zeros(2, 3, 4), torch.full((2, 3, 4), candidate_value)],
        energies=[torch.zeros(2, 3), torch.full((2, 3), energy_value)],
    )


def failed(flags: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, flag in flags.items() if not bool(flag)]


def test_finite_flags_are_device_tensors():
    flags = finite_flags(torch.tensor(1.0), descent_result(), torch.tensor(500.0))
    assert failed(flags) == []
    for flag in flags.values():
        assert isinstance(flag, torch.Tensor)
        assert flag.shape == ()


@pytest.mark.parametrize(
    ("loss", "energy", "candidate", "step_size", "names"),
    [
        (math.nan, 0.0, 0.0, 500.0, ["loss"]),
        (1.0, math.inf, 0.0, 500.0, ["energy at descent step 2"]),
        (1.0, 0.0, -math.inf, 500.0, ["energy gradient at descent step 2"]),
        (1.0, 0.0, 0.0, math.nan, ["step size"]),
    ],
)
def test_finite_flags_name_what_failed(loss, energy, candidate, step_size, names):
    flags = finite_flags(torch.tensor(loss), descent_result(energy, candidate), torch.tensor(step_size))
    assert failed(flags) == names


def test_nan_energy_stops_run_and_keeps_last_checkpoint(tiny_values, small_corpus, monkeypatch, capsys, tmp_path):
    # Training step 5 (counting from 1) gets a NaN energy; checkpoints are written after steps 2 and 4.
    original_descend = ebtlab.models.ebt.descend
    training_descents = []

    def descend_with_nan_at_step_5(energy_fn, initial, normalize, step_size, plan, generator=None):
        if plan.second_order:
            training_descents.append(plan)
            if len(training_descents) == 5:
                return original_descend(lambda p, landscape: energy_fn(p, landscape) * math.nan, initial, normalize, step_size, plan, generator)
        return original_descend(energy_fn, initial, normalize, step_size, plan, generator)

    monkeypatch.setattr(ebtlab.models.ebt, "descend", descend_with_nan_at_step_5)
    values = merge(tiny_values, {"trainer": {"max_steps": 6}, "data": {"files": [str(small_corpus)]}})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(values))
    assert main(["fit", "--config", str(config_file)]) == 2
    output = capsys.readouterr().err
    assert "Traceback" not in output
    message = output.strip().splitlines()[-1]  # after the progress bar
    last = Path(tiny_values["runs_dir"]) / "tiny" / "version_0" / "checkpoints" / "last.ckpt"
    assert message == (
        "ebtlab fit: error: training step 5: NaN or Inf in the energy at descent step 1, energy gradient at "
        "descent step 1, energy at descent step 2, energy gradient at descent step 2, loss, parameter gradients; "
        f"the last good checkpoint is {last}; lower optim.lr or ebt.step_size and start a new run"
    )
    checkpoint = read_checkpoint(last)
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["state_dict"].values())

    monkeypatch.setattr(ebtlab.models.ebt, "descend", original_descend)
    _, metrics = fit_values(values, resume_from=last)
    assert metrics["train/steps"] == 6
    assert math.isfinite(metrics["val/loss"])


class TinyModule(torch.nn.Module):
    def __init__(self, gradient: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))
        self.weight.grad = torch.tensor([1.0, gradient])


class SingleProcess:
    global_step = 7
    checkpoint_callback = None

    class strategy:
        @staticmethod
        def reduce_boolean_decision(decision: bool, all: bool) -> bool:
            return decision


def test_check_without_flags_reads_parameter_gradients():
    NonFiniteCheck().on_before_optimizer_step(SingleProcess(), TinyModule(2.0), optimizer=None)
    with pytest.raises(NumericalError, match="^training step 8: NaN or Inf in the parameter gradients; lower optim.lr"):
        NonFiniteCheck().on_before_optimizer_step(SingleProcess(), TinyModule(math.inf), optimizer=None)
