from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.seeds import (
    SeedError,
    load_manifest,
    parse_range,
    read_seed_passages,
    split_passages,
    text_search_path,
)
from monitor.matching.text import sentences
from tests.matching.conftest import SEEDS


def test_sentences_split_on_punctuation_and_lines() -> None:
    assert sentences("Un. Deux ? « Trois »\n\nQuatre") == ["Un.", "Deux ?", "« Trois »", "Quatre"]


def test_split_passages_is_deterministic_and_bounded() -> None:
    text = " ".join(f"Phrase numéro {i} avec quelques mots de plus pour la longueur." for i in range(60))
    first = split_passages(text)
    assert first == split_passages(text)
    assert len(first) > 5
    assert all(20 <= len(p.split()) <= 120 for p in first)
    assert " ".join(first).split() == text.split()  # nothing lost, nothing reordered


def test_parse_range() -> None:
    assert parse_range("3") == [3]
    assert parse_range("2-4") == [2, 3, 4]
    with pytest.raises(SeedError):
        parse_range("4-2")


def test_shipped_manifest_labels_real_passages(seeds_text_dir: Path) -> None:
    manifest = load_manifest(SEEDS)
    assert [e.file[:3] for e in manifest.entries] == ["000", "001", "002", "003", "004"]
    passages, hashes = read_seed_passages(manifest, text_search_path(manifest, seeds_text_dir))
    assert set(hashes) == {e.file for e in manifest.entries}
    seed3 = [p for p in passages if p.seed.startswith("003")]
    # seed 003's later sections (LLM release, music app, ad film, diving film) are negatives
    assert all(p.topics == () for p in seed3 if p.number >= 11)
    assert {t for p in seed3 for t in p.topics} == {
        "strike-negotiations",
        "ai-likeness",
        "digital-doubles",
    }


def test_changed_seed_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text(
        "seeds:\n  - file: a.txt\n    sha256: '" + "0" * 64 + "'\n    passages: {'1': [x]}\n"
    )
    (tmp_path / "a.txt").write_text("Une phrase. " * 30)
    manifest = load_manifest(tmp_path)
    with pytest.raises(SeedError, match="sha256"):
        read_seed_passages(manifest, [tmp_path])


def test_missing_seed_text_names_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text("seeds:\n  - file: nowhere.txt\n")
    manifest = load_manifest(tmp_path)
    with pytest.raises(SeedError, match=r"nowhere\.txt not found"):
        read_seed_passages(manifest, [tmp_path])
