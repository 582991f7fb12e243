"""The core (src/ebtlab) must work for any modality, so its source may not import or name one.

Checked for every registered adapter and the shipped adapter packages:
- no import of an adapter's package;
- no mention of a package name (ebtlab_text, ...) anywhere in the source, comments included;
- no string literal equal to a modality's name, so no `if name == "text"` and no dispatch
  table keyed by modality;
- no identifier with a word that belongs to one kind of data (vocab, tokenizer, patch, mel,
  spectrogram) among its snake_case or CamelCase words.
Words such as "text" or "token" inside comments and messages are allowed: the core may write
"tokens, patches or frames" in a help text without branching on them. So are generic names of
media that the core writes for any adapter, such as `pixels` of a PNG file or the `waveform` of
a WAV file, and a variable called `text` that contains a string.
"""

import ast
import re
from pathlib import Path

import pytest

from ebtlab.modality import registered_modalities

CORE = Path(__file__).resolve().parents[1] / "src" / "ebtlab"
MODALITIES = Path(__file__).resolve().parents[1] / "modalities"
DATA_WORDS = {"vocab", "tokenizer", "patch", "patches", "mel", "spectrogram"}


def adapter_names() -> tuple[set[str], set[str]]:
    """Return the registered modality names and their packages, plus the shipped packages."""
    registered = registered_modalities()
    names = set(registered)
    packages = {entry.value.split(":")[0].split(".")[0] for entry in registered.values()}
    packages |= {path.name for path in MODALITIES.iterdir() if (path / "__init__.py").is_file()}
    return names, packages


def identifiers(tree: ast.AST) -> list[tuple[int, str]]:
    """Return (line, name) for every name the source defines or uses."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.keyword) and node.arg:
            found.append((node.value.lineno, node.arg))
    return found


def docstring_nodes(tree: ast.AST) -> set[int]:
    """Return the ids of the string constants that are docstrings."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                nodes.add(id(first.value))
    return nodes


def core_violations(core: Path = CORE) -> list[str]:
    """Return one line per place in `core` that imports or names a modality."""
    names, packages = adapter_names()
    problems = []
    for path in sorted(core.rglob("*.py")):
        where = path.relative_to(core.parents[1])
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for number, line in enumerate(source.splitlines(), start=1):
            problems += [f"{where}:{number}: mentions package {package}" for package in packages if package in line]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [(node.module or "").split(".")[0]]
            else:
                imported = []
            problems += [f"{where}:{node.lineno}: imports {module}" for module in imported if module in packages or module == "modalities"]
        docstrings = docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings and node.value in names:
                problems.append(f"{where}:{node.lineno}: string {node.value!r} is a modality name")
        for number, name in identifiers(tree):
            words = {word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)}
            problems += [f"{where}:{number}: identifier {name!r} contains {word!r}" for word in sorted(words & DATA_WORDS)]
    return problems


def test_core_names_no_modality():
    names, packages = adapter_names()
    assert {"text", "image", "audio"} <= names
    assert {"ebtlab_text", "ebtlab_image", "ebtlab_audio"} <= packages
    assert core_violations() == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from ebtlab_audio import AudioModality\n", "imports ebtlab_audio"),
        ("import ebtlab_text.tokenizer\n", "imports ebtlab_text"),
        ("def loss(modality):\n    return modality.name == 'image'\n", "string 'image' is a modality name"),
        ("vocab_size = 3\n", "identifier 'vocab_size' contains 'vocab'"),
        ("class MelFrames:\n    pass\n", "identifier 'MelFrames' contains 'mel'"),
        ("# see ebtlab_image.patches\n", "mentions package ebtlab_image"),
    ],
)
def test_scan_catches_modality_code(tmp_path, source, problem):
    core = tmp_path / "src" / "ebtlab"
    core.mkdir(parents=True)
    (core / "bad.py").write_text(source, encoding="utf-8")
    problems = core_violations(core)
    assert any(problem in line for line in problems), problems
