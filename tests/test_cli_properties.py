"""Random command lines: whatever the arguments, ebtlab exits with code 0 or 2 and prints no traceback."""

import contextlib
import io
from dataclasses import fields, is_dataclass

import lightning as L
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ebtlab.cli import main
from ebtlab.config import RunConfig
from ebtlab_text import TextDataConfig


def config_keys(schema, prefix: str = "") -> list[str]:
    keys = []
    for field in fields(schema):
        if is_dataclass(field.default_factory() if callable(field.default_factory) else None):
            keys.extend(config_keys(field.default_factory(), f"{prefix}{field.name}."))
        else:
            keys.append(f"{prefix}{field.name}")
    return keys


# Keys whose values could make an example slow or write outside the test's folder get safe values only.
GUARDED_KEYS = {
    "data.files": ["[{corpus}]", "[absent.txt]", "[.]", "notes.txt", "[]", "null"],
    "model.size": ["4xs", "huge", "", "null"],
    "runs_dir": ["runs", "other", "", "null"],
    "trainer.strategy": ["auto", "nonsense", "ddp", "", "null"],
}
KEYS = sorted(set(config_keys(RunConfig) + [f"data.{field.name}" for field in fields(TextDataConfig)]) - {"data"})
# Values drawn for every other key: small numbers, so that model and data sizes stay small.
VALUES = st.one_of(
    st.integers(min_value=-3, max_value=64).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(str),
    st.sampled_from(["true", "false", "null", "[]", "[1,2]", "{}", "{a: 1}", "${oc.env:HOME}", "${missing}", "'", "[", "text", "=", ""]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
)


@st.composite
def overrides(draw) -> str:
    key = draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)))
    value = draw(st.sampled_from(GUARDED_KEYS[key])) if key in GUARDED_KEYS else draw(VALUES)
    return f"{key}={value}"


@st.composite
def command_lines(draw) -> list[str]:
    paths = ["{last}", "{run}", "{tampered}", "{corpus}", "absent.ckpt", "auto", "configs/default.yaml", ".", ""]
    options = st.one_of(
        st.sampled_from(["--print-config", "--help", "--bogus", "-x", "--"]),
        st.tuples(st.sampled_from(["--config", "--resume", "--checkpoint"]), st.sampled_from(paths)).map(list),
        overrides(),
        st.text(max_size=10),
    )
    command = draw(st.sampled_from(["fit", "fit", "validate", "random text"]))
    argv = [draw(st.text(max_size=8)) if command == "random text" else command]
    if argv[0] == "validate" and draw(st.integers(0, 3)) > 0:
        argv.extend(["--checkpoint", draw(st.sampled_from(paths))])
    for option in draw(st.lists(options, max_size=6)):
        argv.extend(option if isinstance(option, list) else [option])
    if argv[0] == "fit" and draw(st.booleans()):
        # Most examples train on the small corpus, so the King James tokenizer is not trained each time.
        argv.append("data.files=[{corpus}]")
    return argv


@pytest.fixture
def stand_in_loops(monkeypatch):
    """Replace Lightning's training and evaluation loops, so that every example takes milliseconds.

    Everything ebtlab does before and after the loops runs for real. Processes for a
    distributed strategy are launched inside `Trainer.fit`, so none are started.
    """
    monkeypatch.setattr(L.Trainer, "fit", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(L.Trainer, "validate", lambda self, *args, **kwargs: [{"val/loss": 1.0}])
    monkeypatch.setattr(L.Trainer, "save_checkpoint", lambda self, *args, **kwargs: None)


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_no_command_line_prints_traceback(argv, bad_inputs, stand_in_loops, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, path in bad_inputs.items():
        argv = [item.replace(f"{{{name}}}", str(path)) for item in argv]
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    # Shown by `pytest --hypothesis-show-statistics`: which answers the examples reached.
    event(f"exit {code}: {output.getvalue().strip().splitlines()[-1][:40] if output.getvalue().strip() else ''}")
    assert code in (0, 2), f"{argv}: exit code {code}\n{output.getvalue()}"
    assert "Traceback" not in output.getvalue(), argv

