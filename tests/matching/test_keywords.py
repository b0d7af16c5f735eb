from __future__ import annotations

import pytest

from monitor.config import KeywordRules
from monitor.matching.keywords import KeywordRuleSet, TermIndex, _required_literal, pad
from monitor.matching.text import normalize, strip_accents


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


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\bgreve\d*\b", "La GRÈVE2 continue"),  # matched on the unaccented text
        (r"iphone \d+", "Le nouvel ıPHONE 16"),  # dotless i matches i
        (r"iphone \d+", "İPHONE 16 sort"),  # dotted capital I matches i
        (r"sag-aftra", "the SAG-AFTRA board"),
        (r"passe\b", "Le paſſe"),  # long s matches s
        (r"kelvin", "\u212aELVIN scale"),  # the Kelvin sign matches k
        (r"\bcrème brûlée", "CRÈME BRÛLÉE"),  # a non-ASCII literal: no shortcut, searched as ever
    ],
)
def test_a_pattern_that_matches_is_never_skipped_by_its_literal(pattern: str, text: str) -> None:
    import re

    assert re.search(pattern, text, re.IGNORECASE) or re.search(pattern, strip_accents(text), re.IGNORECASE)
    result = KeywordRuleSet({"t": KeywordRules(regex=(pattern,))}).evaluate(text)["t"]
    assert result.passed
    assert result.matched == (f"/{pattern}/",)


def test_required_literal_is_what_every_match_contains() -> None:
    assert _required_literal(r"\bzoba\d+\b") == "zoba"
    assert _required_literal(r"SAG[- ]AFTRA") == "aftra"
    assert _required_literal(r"(foo|bar)bazz") == "bazz"
    assert _required_literal(r"abc?def") == "def"
    assert _required_literal(r"(strike|grève)") is None  # inside a branch: not required
    assert _required_literal(r"ab\d") is None  # too short to be worth it
    assert _required_literal(r"(") is None


def test_many_topics_together_decide_as_each_alone() -> None:
    """One automaton for 300 rule topics gives every article the decisions
    each topic's rules give it alone (shared misses included)."""
    import random

    from monitor.config import TopicConfig
    from monitor.matching.base import ArticleText
    from monitor.matching.matcher import CombinedMatcher

    rng = random.Random(3)
    words = ["grève", "strike", "actor", "studio", "voice", "clone", "box office", "scan", "deal", "union"]
    words += [f"w{i}" for i in range(40)]
    topics = []
    for i in range(300):
        rules = {"any": tuple(rng.sample(words, rng.randint(1, 3)))}
        if i % 3 == 0:
            rules["all"] = tuple(rng.sample(words, 2))
        if i % 4 == 0:
            rules["exclude"] = (rng.choice(words),)
        if i % 7 == 0:
            rules["phrase"] = (f"{rng.choice(words)} {rng.choice(words)}",)
        if i % 25 == 0:
            rules["regex"] = (rf"\bw{rng.randint(0, 39)}\b",)
        topics.append(TopicConfig(id=f"t{i}", name=f"T{i}", model="rules", rules=KeywordRules(**rules)))
    articles = [
        ArticleText(" ".join(rng.sample(words, 4)), " ".join(rng.choice(words) for _ in range(12)), "en")
        for _ in range(200)
    ]
    together = CombinedMatcher(topics, None).classify(articles)
    matched = 0
    for topic_index, topic in enumerate(topics):
        alone = CombinedMatcher([topic], None).classify(articles)
        for article_index, article in enumerate(articles):
            mine = together[article_index][topic_index]
            assert mine.topic_id == topic.id
            assert mine.matched == _reference_passes(topic.rules, article.text)
            assert mine.evidence["reason"] == alone[article_index][0].evidence["reason"]
            matched += mine.matched
    assert matched > 200  # the stream exercises matches, not only misses


def _reference_passes(rules: KeywordRules, text: str) -> bool:
    """The rule semantics written out plainly, one topic at a time."""
    import re

    padded = pad(normalize(text))

    def has(term: str) -> bool:
        return f" {normalize(term)} " in padded

    def regex(pattern: str) -> bool:
        return bool(re.search(pattern, text, re.I) or re.search(pattern, strip_accents(text), re.I))

    return (
        (not rules.any or any(map(has, rules.any)))
        and all(map(has, rules.all))
        and (not rules.phrase or any(map(has, rules.phrase)))
        and (not rules.regex or any(map(regex, rules.regex)))
        and not any(map(has, rules.exclude))
    )
