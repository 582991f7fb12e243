"""A modality from another package trains with `ebtlab fit` once pip has installed it; no ebtlab file changes.

The package lives in tests/third_party/ebtlab_sine with its own pyproject.toml. It registers
itself in the `ebtlab.modalities` entry-point group and imports only ebtlab's public contract.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import SINE_PACKAGE

EBTLAB = Path(sys.executable).parent / "ebtlab"
SINE_CONFIG = {
    "experiment": "sine",
    "modality": "sine",
    "model": {"size": "4xs", "layers": 1, "width": 32, "heads": 2},
    "ebt": {"descent_steps": 2, "step_size": 50.0},
    "optim": {"lr": 3e-3, "warmup_steps": 0},
    "trainer": {"max_steps": 4, "val_every_n_steps": 2, "limit_val_batches": 1, "log_every_n_steps": 1, "accelerator": "cpu", "devices": 1},
    "data": {"sequences": 64, "context_length": 16, "batch_size": 8},
}


def run_ebtlab(arguments: list[str], site: Path | None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(site)} if site else {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(EBTLAB), *arguments], capture_output=True, text=True, env=environment, timeout=300)


def test_package_is_outside_ebtlab():
    ebtlab_root = Path(__file__).resolve().parents[1]
    assert (SINE_PACKAGE / "pyproject.toml").is_file()
    for source in ("src", "modalities"):
        assert not SINE_PACKAGE.is_relative_to(ebtlab_root / source)
    imports = [line for line in (SINE_PACKAGE / "ebtlab_sine" / "__init__.py").read_text().splitlines() if line.startswith(("import", "from"))]
    assert [line for line in imports if "ebtlab" in line] == [
        "from ebtlab.candidates import ContinuousCandidates",
        "from ebtlab.datamodule import SplitDataModule",
        "from ebtlab.errors import ConfigError",
        "from ebtlab.modality import Modality",
    ]


def test_installed_modality_fits_from_command_line(sine_site, tmp_path):
    config = tmp_path / "sine.yaml"
    config.write_text(yaml.safe_dump(SINE_CONFIG))
    arguments = ["fit", "--config", str(config), f"runs_dir={tmp_path / 'runs'}"]

    # Without the installed package the modality is unknown.
    missing = run_ebtlab(arguments, site=None)
    assert missing.returncode == 2
    assert "unknown modality 'sine'" in missing.stderr

    fitted = run_ebtlab(arguments, site=sine_site)
    assert fitted.returncode == 0, fitted.stderr[-2000:]
    run_dir = tmp_path / "runs" / "sine" / "version_0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train/steps"] == 4
    assert math.isfinite(metrics["val/loss"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
