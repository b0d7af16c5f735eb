"""Keyword rules: case- and accent-insensitive whole-word matching.

One Aho-Corasick automaton holds the terms of every topic, so scanning an
article costs the same order of time for 3 topics as for 1,000 (the scan is
linear in the text; only the hits grow). A term is one or more words,
normalised like the text (see :mod:`monitor.matching.text`); a trailing ``*``
makes its last word a prefix (``numeri*`` matches ``numerique``,
``numeriques``). Regexes are the one exception: they run per topic, on the
original text and on its accent-stripped form, case-insensitively.

Rule semantics (:class:`monitor.config.KeywordRules`): every non-empty group
among ``any`` (one of the terms), ``all`` (every term), ``phrase`` (one of the
phrases) and ``regex`` (one of the patterns) must hold, and no ``exclude``
term may occur.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from monitor.config import KeywordRules
from monitor.matching.text import normalize, strip_accents


def normalize_term(term: str) -> tuple[str, bool]:
    """``(normalised words, is_prefix)`` of a keyword as written in the config."""
    stripped = term.strip()
    prefix = stripped.endswith("*")
    words = normalize(stripped.rstrip("*"))
    return words, prefix and bool(words)


def pad(normalized_text: str) -> str:
    return f" {normalized_text} "


class TermIndex:
    """Find many terms, each tagged with payloads, in one pass over a text.

    ``add(term, payload)`` any number of times, then ``find(padded_text)``
    returns ``{payload: [terms as written, in order of first occurrence]}``.
    """

    def __init__(self) -> None:
        self._automaton: Any = ahocorasick.Automaton()
        self._entries: dict[str, list[tuple[Any, str]]] = {}
        self._built = False

    def add(self, term: str, payload: Any) -> bool:
        words, prefix = normalize_term(term)
        if not words:
            return False
        key = f" {words}" if prefix else f" {words} "
        self._entries.setdefault(key, []).append((payload, term.strip()))
        self._built = False
        return True

    def __len__(self) -> int:
        return len(self._entries)

    def _build(self) -> None:
        self._automaton = ahocorasick.Automaton()
        for key, values in self._entries.items():
            self._automaton.add_word(key, tuple(values))
        if self._entries:
            self._automaton.make_automaton()
        self._built = True

    def find(self, padded_text: str) -> dict[Any, list[str]]:
        if not self._built:
            self._build()
        found: dict[Any, list[str]] = {}
        if not self._entries:
            return found
        for end, values in self._automaton.iter(padded_text):
            for payload, term in values:
                if term.endswith("*"):
                    # Report the word as found: extend the prefix to the word's end.
                    stop = padded_text.find(" ", end + 1)
                    start = padded_text.rfind(" ", 0, end - len(term.rstrip("*").strip()) + 1)
                    term = padded_text[start + 1 : stop]
                terms = found.setdefault(payload, [])
                if term not in terms:
                    terms.append(term)
        return found


@dataclass(frozen=True)
class RuleResult:
    """What a topic's keyword rules found in one article."""

    passed: bool
    has_rules: bool
    matched: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    failed: tuple[str, ...] = field(default=())  # groups that did not hold, e.g. "all: sag-aftra"

    def describe(self) -> str:
        if not self.has_rules:
            return "no keyword rules"
        if self.excluded:
            return "excluded by " + ", ".join(repr(t) for t in self.excluded)
        if self.failed:
            return "rules not met (" + "; ".join(self.failed) + ")"
        if self.matched:
            return "rules met: " + ", ".join(repr(t) for t in self.matched)
        return "rules met"


_GROUPS = ("any", "all", "phrase", "exclude")

# The result of a topic without keyword rules (shared, immutable).
NO_RULES = RuleResult(passed=True, has_rules=False)


class KeywordRuleSet:
    """The keyword rules of many topics, evaluated together."""

    def __init__(self, rules: Mapping[str, KeywordRules]) -> None:
        self._rules = dict(rules)
        # Topics without rules all share one result: with many topics, most
        # have none, and evaluating them per article would cost more than the scan.
        self._no_rules = {topic_id: NO_RULES for topic_id, r in self._rules.items() if r.empty}
        self._with_rules = {topic_id: r for topic_id, r in self._rules.items() if not r.empty}
        self._index = TermIndex()
        self._regexes: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        for topic_id, topic_rules in self._rules.items():
            for group in _GROUPS:
                for term in getattr(topic_rules, group):
                    self._index.add(term, (topic_id, group))
            self._regexes[topic_id] = [
                (pattern, re.compile(pattern, re.IGNORECASE)) for pattern in topic_rules.regex
            ]

    @property
    def topic_ids(self) -> list[str]:
        return list(self._rules)

    def evaluate(self, text: str, normalized: str | None = None) -> dict[str, RuleResult]:
        """Every topic's result for one article's text."""
        if not self._with_rules:
            return dict(self._no_rules)
        norm = normalize(text) if normalized is None else normalized
        hits = self._index.find(pad(norm))
        unaccented: str | None = None
        results: dict[str, RuleResult] = {}
        for topic_id, rules in self._rules.items():
            if rules.empty:
                results[topic_id] = NO_RULES
                continue
            matched: list[str] = []
            failed: list[str] = []
            any_hits = hits.get((topic_id, "any"), [])
            if rules.any and not any_hits:
                failed.append("any: none of " + ", ".join(rules.any))
            matched.extend(any_hits)
            all_hits = hits.get((topic_id, "all"), [])
            if rules.all:
                missing = [t.strip() for t in rules.all if t.strip() not in all_hits]
                if missing:
                    failed.append("all: missing " + ", ".join(missing))
            matched.extend(all_hits)
            phrase_hits = hits.get((topic_id, "phrase"), [])
            if rules.phrase and not phrase_hits:
                failed.append("phrase: none of " + ", ".join(rules.phrase))
            matched.extend(phrase_hits)
            if self._regexes[topic_id]:
                if unaccented is None:
                    unaccented = strip_accents(text)
                regex_hits = [
                    pattern
                    for pattern, compiled in self._regexes[topic_id]
                    if compiled.search(text) or compiled.search(unaccented)
                ]
                if not regex_hits:
                    failed.append("regex: no pattern matched")
                matched.extend(f"/{p}/" for p in regex_hits)
            excluded = tuple(hits.get((topic_id, "exclude"), []))
            results[topic_id] = RuleResult(
                passed=not failed and not excluded,
                has_rules=True,
                matched=tuple(dict.fromkeys(matched)),
                excluded=excluded,
                failed=tuple(failed),
            )
        return results


def rules_fingerprint(rules: Iterable[tuple[str, KeywordRules]]) -> str:
    """A stable text describing rules, for version strings."""
    parts: list[str] = []
    for topic_id, topic_rules in rules:
        groups = [
            f"{name}={'|'.join(getattr(topic_rules, name))}"
            for name in ("any", "all", "phrase", "regex", "exclude")
            if getattr(topic_rules, name)
        ]
        parts.append(f"{topic_id}[{';'.join(groups)}]")
    return ",".join(parts)


def positive_terms(rules: KeywordRules) -> Sequence[str]:
    return (*rules.any, *rules.all, *rules.phrase)
