import pytest

from ebtlab.errors import DataError
from ebtlab_text.corpus import file_documents, king_james_chapters, load_splits, split_documents


def test_king_james_has_every_chapter_without_verse_numbers():
    chapters = king_james_chapters()
    assert len(chapters) == 1189
    assert chapters[0].startswith("In the beginning God created the heaven and the earth.")
    assert chapters[-1].rstrip().endswith("Amen.")
    assert not any(character.isdigit() for character in chapters[0])
    assert "[" not in "".join(chapters[:50])


def test_split_rule_is_by_document_index():
    documents = [f"doc {i}" for i in range(40)]
    splits = split_documents(documents)
    assert splits.validation == ["doc 18", "doc 38"]
    assert splits.test == ["doc 19", "doc 39"]
    assert len(splits.train) == 36


def test_king_james_split_sizes():
    splits = load_splits([])
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (1071, 59, 59)
    assert not set(splits.validation) & set(splits.train)


def test_user_files_split_at_blank_lines(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\n\n".join(f"Paragraph {i}.\nSecond line." for i in range(25)), encoding="utf-8")
    documents = file_documents([str(path)])
    assert len(documents) == 25
    assert documents[3] == "Paragraph 3.\nSecond line."
    assert len(load_splits([str(path)]).validation) == 1


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="data.files: text file not found"):
        file_documents([str(tmp_path / "absent.txt")])


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        file_documents([str(path)])


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="no text found"):
        file_documents([str(path)])


def test_too_few_documents_for_validation():
    with pytest.raises(DataError, match="at least 19 are needed"):
        split_documents(["one", "two"])
