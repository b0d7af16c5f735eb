"""Seed files as users save them: the article is kept, the page around it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.documents import (
    DocumentError,
    article_from_blocks,
    expand_paths,
    html_blocks,
    markdown_to_text,
    read_articles,
    split_passages,
    text_blocks,
)
from tests.conftest import shared_path

PAGES = Path(__file__).parent / "fixtures" / "pages"
CLUTTER = ("Newsletter", "Je m'inscris", "Lire aussi", "Tags", "Partager", "Accueil", "Publié le", "Écouter")


def _all_text(article: object) -> str:
    return str(article.text)  # type: ignore[attr-defined]


def test_a_pasted_page_keeps_headline_and_prose_only() -> None:
    (article,) = read_articles([PAGES / "avalanche-1.txt"])
    assert article.title == (
        "Avalanches : les Alpes du Nord placées en risque fort après les chutes de neige"
    )
    assert len(article.paragraphs) == 2
    assert article.paragraphs[0].startswith("Après trois jours de chutes de neige")
    for word in CLUTTER:
        assert word not in _all_text(article), word


def test_lines_shared_by_several_files_are_page_furniture() -> None:
    # The newsletter pitch is a full sentence, but both pages of the site carry it.
    articles = read_articles([PAGES / "avalanche-1.txt", PAGES / "avalanche-2.txt"])
    assert all("Recevez chaque matin" not in a.text for a in articles)
    assert articles[1].title.startswith("Savoie : une avalanche emporte un skieur")


def test_html_drops_navigation_related_links_newsletter_and_footer() -> None:
    (article,) = read_articles([PAGES / "avalanche-3.html"])
    assert article.title.startswith("Pyrénées : le risque d'avalanche relevé")
    assert len(article.paragraphs) == 2
    text = article.text
    for word in ("Accueil", "Sur le même sujet", "Recevez chaque matin", "Mentions légales", "tracking"):
        assert word not in text, word


def test_a_page_pasted_as_one_line_is_cut_at_its_separators() -> None:
    (article,) = read_articles([PAGES / "one-line-page.txt"])
    assert article.title == "Avalanches : pourquoi le risque grimpe après une chute de neige suivie de vent"
    assert len(article.paragraphs) == 1
    assert "Commentaires" not in article.text and "Partager" not in article.text


def test_markdown_links_and_markup_become_text() -> None:
    text = markdown_to_text("# Titre\n\nUn [lien](https://example.org) et du **gras**.\n")
    assert "https://" not in text and "**" not in text and "#" not in text
    assert "Un lien et du gras." in text


def test_a_menu_of_section_names_is_not_a_headline() -> None:
    blocks = [
        "Home Brèves News Reviews Previews Dossiers Podcasts",
        "Un titre qui parle de la neige et des secours en montagne",
        "Le texte de l'article commence ici. " * 6,
    ]
    article = article_from_blocks("x.txt", blocks)
    assert article.title == "Un titre qui parle de la neige et des secours en montagne"


def test_the_shared_seed_with_page_clutter() -> None:
    # A real saved page (French press): breadcrumbs, byline, "Écouter cet
    # article", newsletter box, related links and tags around the article.
    (article,) = read_articles([shared_path("eval", "newtopics", "hospital-ransomware", "seeds", "04.txt")])
    assert article.title.startswith("Espagne : un grand hôpital de Barcelone paralysé par une cyberattaque")
    for word in ("Newsletter", "S'inscrire", "Tags", "Lire aussi", "Sur le même sujet", "Écouter", "Accueil"):
        assert word not in article.text, word
    assert len(article.paragraphs) >= 6


def test_folders_expand_to_their_article_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a.md").write_text("x", encoding="utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.md", "b.txt"]


def test_a_missing_seed_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"nothing\.txt: no such file or folder"):
        expand_paths([tmp_path / "nothing.txt"])


def test_passages_are_deterministic_paragraph_sized_groups() -> None:
    text = " ".join(f"Phrase numéro {i} de l'article, avec quelques mots de plus." for i in range(40))
    passages = split_passages(text)
    assert passages == split_passages(text)
    assert all(45 <= len(p.split()) <= 110 for p in passages[:-1])
    assert " ".join(passages).split() == text.split()


def test_text_and_html_blocks() -> None:
    assert text_blocks("  a  b \n\n c ") == ["a b", "c"]
    assert html_blocks("<p>un</p><nav>menu</nav><p>deux <b>trois</b></p>") == ["un", "deux trois"]
