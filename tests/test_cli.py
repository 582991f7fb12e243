import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebtlab.cli import format_metrics, main

from conftest import SMALL

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_print_config_shows_resolved_values(capsys):
    assert main(["fit", "--print-config", "trainer.max_steps=20"]) == 0
    output = capsys.readouterr().out
    assert "max_steps: 20" in output
    assert "vocab_size: 1024" in output


def test_console_script_entry_point():
    script = Path(sys.executable).parent / "ebtlab"
    result = subprocess.run([str(script), "fit", "model.size=huge"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown size preset 'huge'" in result.stderr
    assert "Traceback" not in result.stderr


def test_format_metrics_table():
    table = format_metrics({"val/loss": 1.23456, "model/parameters": 1234})
    assert "val/loss          1.2346" in table
    assert "model/parameters  1,234" in table


# Each row: command line (with {name} for a path of `bad_inputs`), and the start of the error.
BAD_INPUTS = [
    (["fit", "model.foo=1"], "invalid config at model.foo: Key 'foo' not in 'ModelConfig'"),
    (["fit", "trainer.max_stepz=5"], "invalid config at trainer.max_stepz: Key 'max_stepz' not in 'TrainerConfig'"),
    (["fit", "trainer.max_steps=abc"], "invalid config at trainer.max_steps: Value 'abc' of type 'str' could not be converted to Integer"),
    (["fit", "trainer.max_steps"], "override 'trainer.max_steps' is not of the form key=value"),
    (["fit", "ebt.step_size=0"], "invalid value for ebt.step_size: 0.0 (expected a positive step size)"),
    (["fit", "ebt.step_size=-5"], "invalid value for ebt.step_size: -5.0 (expected a positive step size)"),
    (["fit", "ebt.descent_steps=0"], "invalid value for ebt.descent_steps: 0 (expected at least 1)"),
    (["fit", "trainer.max_steps=0"], "invalid value for trainer.max_steps: 0 (expected at least 1)"),
    (["fit", "trainer.inference_mode=true"], "invalid value for trainer.inference_mode: True (energy descent needs gradients"),
    (["fit", "--config", "absent.yaml"], "config file not found: absent.yaml"),
    (["fit", "--config", "{broken_yaml}"], "config file {broken_yaml} is not valid YAML"),
    (["fit", "modality=smell"], "modality: unknown modality 'smell'; registered modalities: audio, image, text"),
    (["fit", "model.size=huge"], "model.size: unknown size preset 'huge'; known presets: 4xs, 3xs, xxs, xs, small, medium, large, xl"),
    (["fit", *SMALL, "trainer.devices=0"], "invalid trainer settings: `Trainer(devices=0)` value is not a valid input"),
    (["fit", *SMALL, "trainer.strategy=nonsense"], "invalid trainer settings: You selected an invalid strategy name"),
    (["fit", *SMALL, "data.files=[absent.txt]"], "data.files: text file not found: absent.txt"),
    (["fit", *SMALL, "data.files=[.]"], "data.files: . is not a file"),
    (["fit", *SMALL, "data.files=[{empty}]"], "data.files: no text found in {empty}"),
    (["fit", *SMALL, "data.files=[{latin1}]"], "data.files: {latin1} is not UTF-8 text (invalid byte at offset 3)"),
    (["fit", *SMALL, "data.files=[{few_documents}]"], "corpus has 5 documents; at least 19 are needed for a validation split"),
    (["fit", *SMALL, "data.batch_size=100000"], "the training split has"),
    (["validate", "--checkpoint", "absent.ckpt"], "checkpoint not found: absent.ckpt"),
    (["validate", "--checkpoint", "{truncated}"], "checkpoint {truncated} cannot be read (truncated or corrupt)"),
    (["validate", "--checkpoint", "{tampered}"], "checkpoint {tampered} cannot be read: it is not a checkpoint, or it contains objects"),
    (["validate", "--checkpoint", "{foreign}"], "{foreign} is not an ebtlab checkpoint"),
    (["validate", "--checkpoint", "{other_shape}"], "checkpoint {other_shape} does not fit the model of its config: size mismatch"),
    (["validate", "--checkpoint", "{last}", "model.layers=2"], "checkpoint {last} does not fit the model of its config: Missing key(s)"),
    (["fit", "--resume", "absent.ckpt"], "checkpoint not found: absent.ckpt"),
    (["fit", "--resume", "{truncated}"], "checkpoint {truncated} cannot be read (truncated or corrupt)"),
    (["fit", "--resume", "{tampered}"], "checkpoint {tampered} cannot be read: it is not a checkpoint, or it contains objects"),
    (["fit", "--resume", "{other_shape}", "trainer.max_steps=4"], "checkpoint {other_shape} does not fit the model of its config: size mismatch"),
    (["fit", "--resume", "{outside}", "trainer.max_steps=4"], "cannot resume from {outside}: a resumed run continues in its run folder"),
    (["fit", "--resume", "{run}"], "the checkpoint has already trained 2 of trainer.max_steps=2 steps"),
    (["fit", "--resume", "{run}", "optim.lr=0.1"], "cannot override optim when resuming"),
    (["fit", "--resume", "{run}", "--config", "configs/default.yaml"], "--config cannot be combined with --resume"),
    (["fit", "--resume", "auto"], "no run of experiment 'text_ebt_s1' under runs to resume"),
    (["fit", "model.architecture=rnn"], "invalid value for model.architecture: 'rnn' (known architectures: ebt, transformer, denoising_ebt, diffusion)"),
    (["fit", *SMALL, "model.architecture=denoising_ebt"], "model.architecture: denoising needs continuous units, and modality 'text' has categorical ones"),
    (["fit", "denoising.noise_level=2"], "invalid value for denoising.noise_level: 2.0 (expected a noise level in (0, 1]"),
    (["validate", "--checkpoint", "{last}", "model.architecture=transformer"], "model.architecture: checkpoint {last} contains an 'ebt' model"),
    (["test", "--checkpoint", "absent.ckpt"], "checkpoint not found: absent.ckpt"),
    (["compare", "--config", "absent.yaml"], "config file not found: absent.yaml"),
    (["compare", "--config", str(CONFIGS / "text" / "transformer.yaml"), *SMALL], "model.architecture: compare trains an EBT and derives its baseline"),
    (["bench", "--repetitions", "0", *SMALL], "bench needs at least 1 repetition"),
    (["think", "--checkpoint", "absent.ckpt"], "checkpoint not found: absent.ckpt"),
    (["think", "--checkpoint", "{tampered}"], "checkpoint {tampered} cannot be read: it is not a checkpoint, or it contains objects"),
    (["generate", "--checkpoint", "{last}", "--prompt", ""], "--prompt is empty"),
    (["generate", "--checkpoint", "{last}", "--prompt", "And", "--max-new-units", "0"], "--max-new-units must be at least 1, got 0"),
    (["generate", "--checkpoint", "{last}", "--prompt", "And", "--temperature", "-1"], "--temperature must be >= 0, got -1.0"),
    (["fit", "thinking.candidates=0"], "invalid value for thinking.candidates: 0 (expected at least 1)"),
    (["fit", "ebt.min_training_descent_steps=5"], "invalid value for ebt.min_training_descent_steps: 5"),
    (["fit", "--config", str(CONFIGS / "image" / "ebt_s1.yaml"), "data.source=idx", "data.path=absent-idx3-ubyte"], "data.path: IDX file not found: absent-idx3-ubyte"),
    (["fit", "--config", str(CONFIGS / "image" / "ebt_s1.yaml"), "data.source=folder"], "data.path is required for data.source=folder"),
    (["fit", "--config", str(CONFIGS / "audio" / "ebt_s1.yaml"), "data.path=absent-recordings"], "data.path: folder not found: absent-recordings"),
    (["fit", "--config", str(CONFIGS / "audio" / "ebt_s1.yaml"), "data.path={no_audio}"], "data.path: no audio files (.wav, .flac, .ogg) in {no_audio}"),
    (["fit", "--config", str(CONFIGS / "audio" / "ebt_s1.yaml"), "data.path={broken_audio}"], "data.path: cannot read audio file {broken_audio}/broken.wav: Format not recognised."),
    (["fit", "--config", str(CONFIGS / "audio" / "ebt_s1.yaml"), "data.path={broken_audio}", "data.n_mels=0"], "data.n_mels must be positive, got 0"),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*") if path.is_file()}


def row_id(value) -> str:
    return " ".join(item for item in value if item not in SMALL) if isinstance(value, list) else ""


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=row_id)
def test_bad_input_one_line_exit_2(capsys, tmp_path, monkeypatch, bad_inputs, argv, message):
    monkeypatch.chdir(tmp_path)
    names = {name: str(path) for name, path in bad_inputs.items()}
    before = snapshot(bad_inputs["run"].parents[2])
    assert main([item.format(**names) for item in argv]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"ebtlab {argv[0]}: error: {message.format(**names)}")
    assert "\n" not in error
    assert "Traceback" not in error
    assert list(tmp_path.iterdir()) == []
    assert snapshot(bad_inputs["run"].parents[2]) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "ebtlab: error: the following arguments are required: COMMAND"),
        (["train"], "ebtlab: error: argument COMMAND: invalid choice: 'train'"),
        (["fit", "--resume"], "ebtlab fit: error: argument --resume: expected one argument"),
        (["validate"], "ebtlab validate: error: the following arguments are required: --checkpoint"),
        (["fit", "--epochs", "3"], "ebtlab: error: unrecognized arguments: --epochs"),
        (["think", "--checkpoint", "x.ckpt", "--steps", "0,2"], "ebtlab think: error: argument --steps: expected comma-separated positive integers, got '0,2'"),
        (["generate", "--checkpoint", "x.ckpt"], "ebtlab generate: error: the following arguments are required: --prompt"),
    ],
)
def test_usage_errors_end_with_problem(capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines()[0].startswith("usage: ebtlab")
    assert error.splitlines()[-1].startswith(message)
    assert "Traceback" not in error
