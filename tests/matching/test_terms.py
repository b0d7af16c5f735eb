"""A topic's vocabulary, learned from French seeds: distinctive, on the topic, in both languages."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.matching.learn import learn
from monitor.matching.terms import candidates, inflections, is_name
from monitor.matching.vocabulary import cognates, content_words
from tests.matching.conftest import fixture_topics_config

CLUTTER_WORDS = {"newsletter", "inscris", "partager", "tags", "accueil", "écouter", "publié", "lien"}


@pytest.fixture(scope="module")
def avalanche_terms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[str]]]:
    settings = load_config(fixture_topics_config(tmp_path_factory.mktemp("avalanche")))
    (topic,) = learn(settings.topics, settings.resolve_path)["topics"]
    vocabulary: dict[str, dict[str, list[str]]] = topic["vocabulary"]
    return vocabulary


def test_the_seeds_own_term_is_found_in_french_and_in_english(
    avalanche_terms: dict[str, dict[str, list[str]]],
) -> None:
    # The pages are French; "avalanche" is what a person would type, in both.
    assert {"avalanche", "avalanches"} & {t.lower() for t in avalanche_terms["fr"]["gate"]}
    assert {"avalanche", "avalanches"} & {t.lower() for t in avalanche_terms["en"]["gate"]}


def test_page_clutter_never_becomes_vocabulary(avalanche_terms: dict[str, dict[str, list[str]]]) -> None:
    words = {
        w.lower()
        for lang in avalanche_terms.values()
        for kind in lang.values()
        for t in kind
        for w in t.split()
    }
    assert not words & CLUTTER_WORDS


def test_one_article_details_and_function_words_are_not_candidates() -> None:
    articles = [
        ["Les secouristes ont dégagé le skieur. Le risque d'avalanche reste fort à Tignes."],
        ["Le risque d'avalanche est relevé ; les secouristes appellent à la prudence."],
    ]
    found = {c.key: c.articles for c in candidates(articles, "fr", min_articles=2)}
    assert found["secouristes"] == 2 and found["risque d avalanche"] == 2
    assert "tignes" not in found  # one article's detail
    assert not any(k.split()[0] in {"le", "la", "les", "de", "d"} for k in found)


def test_inflections_and_names() -> None:
    assert set(inflections("drought", "en")) == {"drought", "droughts"}
    assert set(inflections("hôpital", "fr")) == {"hôpital", "hôpitaux"}
    assert inflections("LockBit", "en") == ["LockBit"]
    assert is_name("SAG-AFTRA") and is_name("LockBit") and not is_name("grève")


def test_cognates_and_the_general_vocabulary() -> None:
    assert cognates("cyberattaque", "en")[0] == "cyberattack"
    english = content_words("en", 500)
    assert "the" not in english and len(english) == 500
    assert "gouvernement" not in content_words("en", 20000)  # a French word in English lists
