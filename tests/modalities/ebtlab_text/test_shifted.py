from ebtlab_text.corpus import king_james_chapters, split_documents
from ebtlab_text.shifted import american_standard_chapters, python_docstrings, python_source, standard_library_files


def test_asv_chapters_match_kjv_validation_split():
    american = american_standard_chapters()
    king_james = split_documents(king_james_chapters()).validation
    assert len(american) == len(king_james) == 59
    # The same chapter in two translations: different text, mostly the same words.
    assert american[0] != king_james[0]
    shared = set(american[0].split()) & set(king_james[0].split())
    assert len(shared) > 0.5 * len(set(king_james[0].split()))


def test_python_sets_are_deterministic_and_sized():
    assert standard_library_files() == standard_library_files()
    docstrings, source = python_docstrings(20_000), python_source(20_000)
    assert sum(map(len, docstrings)) >= 20_000
    assert sum(map(len, source)) >= 20_000
    assert all(len(docstring) > 80 for docstring in docstrings)
    assert any("def " in document for document in source)
    assert not any("site-packages" in str(path) for path in standard_library_files())


def test_evaluation_sets_of_text_modality(kjv_modality):
    sets = kjv_modality.evaluation_sets()
    assert list(sets) == ["kjv_validation", "asv_bible", "python_docstrings", "python_code"]
    for loader in sets.values():
        batch = next(iter(loader))
        assert batch["observed"].shape == (4, 16)
        assert batch["target"].shape == (4, 16)


def test_evaluation_files_become_sets(kjv_modality, tmp_path, monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("First paragraph of a user's own text.\n\nSecond paragraph, a little longer than the first.\n", encoding="utf-8")
    monkeypatch.setattr(kjv_modality.config, "evaluation_files", [str(notes)])
    sets = kjv_modality.evaluation_sets()
    assert list(sets)[-1] == "notes.txt"
