from __future__ import annotations

import pytest

from monitor.config import KeywordRules
from monitor.matching.keywords import KeywordRuleSet, TermIndex, pad
from monitor.matching.text import normalize


def _eval(rules: KeywordRules, text: str) -> tuple[bool, tuple[str, ...]]:
    result = KeywordRuleSet({"t": rules}).evaluate(text)["t"]
    return result.passed, result.matched


def test_normalize_strips_case_accents_and_punctuation() -> None:
    assert normalize("La GRÈVE d’Hollywood : l'IA, «œuvre»!") == "la greve d hollywood l ia oeuvre"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Les acteurs en grève", True),
        ("LES ACTEURS EN GREVE", True),
        ("The actors' STRIKE goes on", True),
        ("Un gréviste isolé", False),  # whole words only: 'greve' is not inside 'greviste'
        ("strikers at the plant", False),
        ("", False),
    ],
)
def test_any_is_case_accent_insensitive_and_whole_word(text: str, expected: bool) -> None:
    passed, _ = _eval(KeywordRules(any=("grève", "strike")), text)
    assert passed is expected


def test_prefix_term_with_star() -> None:
    rules = KeywordRules(any=("numéri*",))
    assert _eval(rules, "des doubles numériques")[0]
    assert not _eval(rules, "anumerique")[0]


def test_multiword_terms_and_hyphens() -> None:
    rules = KeywordRules(phrase=("SAG-AFTRA",))
    assert _eval(rules, "le syndicat SAG AFTRA a voté")[0]
    assert _eval(rules, "SAG-AFTRA's board")[0]
    assert not _eval(rules, "SAG members")[0]


def test_all_requires_every_term_and_reports_missing() -> None:
    rules = KeywordRules(all=("actors", "AI"))
    assert _eval(rules, "Actors fight AI")[0]
    result = KeywordRuleSet({"t": rules}).evaluate("Actors walk out")["t"]
    assert not result.passed
    assert "missing AI" in result.describe()


def test_exclude_vetoes_even_when_positive_terms_match() -> None:
    rules = KeywordRules(any=("strike",), exclude=("Ford", "auto workers"))
    result = KeywordRuleSet({"t": rules}).evaluate("Auto Workers strike at Ford")["t"]
    assert not result.passed
    assert set(result.excluded) == {"Ford", "auto workers"}
    assert _eval(rules, "Actors strike in Hollywood")[0]


def test_exclude_only_rules_pass_when_absent() -> None:
    rules = KeywordRules(exclude=("football",))
    assert _eval(rules, "Actors strike")[0]
    assert not _eval(rules, "Football strike")[0]


def test_regex_on_original_and_unaccented_text() -> None:
    rules = KeywordRules(regex=(r"\bgreve\s+des\s+acteurs\b",))
    assert _eval(rules, "La Grève des acteurs continue")[0]
    assert not _eval(rules, "La grève des cheminots")[0]


def test_every_non_empty_group_must_hold() -> None:
    rules = KeywordRules(any=("strike",), phrase=("screen actors",))
    assert _eval(rules, "Screen actors strike")[0]
    assert not _eval(rules, "Rail strike")[0]


def test_empty_rules_have_no_opinion() -> None:
    result = KeywordRuleSet({"t": KeywordRules()}).evaluate("anything")["t"]
    assert result.passed and not result.has_rules


def test_topics_are_independent_in_one_automaton() -> None:
    ruleset = KeywordRuleSet(
        {
            "a": KeywordRules(any=("deepfake",)),
            "b": KeywordRules(any=("strike",), exclude=("deepfake",)),
        }
    )
    results = ruleset.evaluate("A deepfake strike")
    assert results["a"].passed
    assert not results["b"].passed


def test_term_index_reports_overlapping_and_adjacent_terms() -> None:
    index = TermIndex()
    index.add("digital", "x")
    index.add("digital double", "y")
    index.add("double", "z")
    found = index.find(pad(normalize("a digital double")))
    assert found == {"x": ["digital"], "y": ["digital double"], "z": ["double"]}
