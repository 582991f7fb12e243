import subprocess
import sys
from pathlib import Path

import pytest

from ebtlab.cli import format_metrics, main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_print_config_shows_resolved_values(capsys):
    assert main(["fit", "--print-config", "trainer.max_steps=20"]) == 0
    output = capsys.readouterr().out
    assert "max_steps: 20" in output
    assert "vocab_size: 1024" in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "model.foo=1"], "invalid config at model.foo"),
        (["fit", "--config", "absent.yaml"], "config file not found: absent.yaml"),
        (["validate", "--checkpoint", "absent.ckpt"], "checkpoint not found: absent.ckpt"),
        (["fit", "data.files=[absent.txt]"], "data.files: text file not found"),
        (["fit", "trainer.devices=0"], "invalid trainer settings: `Trainer(devices=0)` value is not a valid input"),
        (["compare", "--config", "absent.yaml"], "config file not found: absent.yaml"),
        (["compare", "--config", str(CONFIGS / "text" / "transformer.yaml")], "compare trains an EBT and derives its baseline"),
        (["bench", "--repetitions", "0"], "bench needs at least 1 repetition"),
        (["fit", "--config", str(CONFIGS / "image" / "ebt_s1.yaml"), "data.source=idx", "data.path=absent-idx3-ubyte"], "data.path: IDX file not found: absent-idx3-ubyte"),
        (["fit", "--config", str(CONFIGS / "image" / "ebt_s1.yaml"), "data.source=folder"], "data.path is required for data.source=folder"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error
    assert "\n" not in error
    assert "Traceback" not in error
    assert not (tmp_path / "runs").exists()


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
