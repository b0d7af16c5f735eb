"""Keyword rules: case- and accent-insensitive whole-word matching.

One Aho-Corasick automaton holds the terms of every topic, so scanning an
article costs the same order of time for 3 topics as for 1,000 (the scan is
linear in the text; only the hits grow). A term is one or more words,
normalised like the text (see :mod:`monitor.matching.text`); a trailing ``*``
makes its last word a prefix (``numeri*`` matches ``numerique``,
``numeriques``). Regexes are the one exception: they run per topic, on the
original text and on its accent-stripped form, case-insensitively, and
only on texts that hold the ASCII literal a pattern needs (a substring
check), so that most articles skip most patterns.

Rule semantics (:class:`monitor.config.KeywordRules`): every non-empty group
among ``any`` (one of the terms), ``all`` (every term), ``phrase`` (one of the
phrases) and ``regex`` (one of the patterns) must hold, and no ``exclude``
term may occur.
"""

from __future__ import annotations

import re
import re._constants as re_constants
import re._parser as re_parser
import unicodedata
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
    """The keyword rules of many topics, evaluated together.

    Like the learned gates, every topic's terms live in one automaton whose
    hits say which (topic, group) they belong to: an article costs one scan
    plus the topics it hits (and those with a regex), not one check per
    topic. A topic the text does not touch has its *miss* result, worked out
    once and shared (``miss``): with 1,000 rule topics an article touches a
    handful.
    """

    def __init__(self, rules: Mapping[str, KeywordRules]) -> None:
        self._rules = dict(rules)
        self._index = TermIndex()
        self._regexes: dict[str, list[_Pattern]] = {}
        for topic_id, topic_rules in self._rules.items():
            for group in _GROUPS:
                for term in getattr(topic_rules, group):
                    self._index.add(term, (topic_id, group))
            if topic_rules.regex:
                self._regexes[topic_id] = [_Pattern(pattern) for pattern in topic_rules.regex]
        # What fails when an article has none of a topic's terms, said once.
        self._none_of = {
            topic_id: {
                group: f"{group}: none of " + ", ".join(getattr(topic_rules, group))
                for group in ("any", "phrase")
                if getattr(topic_rules, group)
            }
            for topic_id, topic_rules in self._rules.items()
        }
        # Topics without rules all share one result; the others their miss:
        # no term found and, for a topic with a regex, no pattern matched.
        self._untouched: dict[str, RuleResult] = {
            topic_id: NO_RULES if topic_rules.empty else self._result(topic_id, topic_rules, {}, "", None)
            for topic_id, topic_rules in self._rules.items()
        }

    @property
    def topic_ids(self) -> list[str]:
        return list(self._rules)

    def miss(self, topic_id: str) -> RuleResult:
        """The shared result of a topic for a text that has none of its
        terms (and matches none of its patterns)."""
        return self._untouched[topic_id]

    def evaluate(self, text: str, normalized: str | None = None) -> dict[str, RuleResult]:
        """Every topic's result for one article's text."""
        results = dict(self._untouched)
        results.update(self.evaluate_touched(text, normalized))
        return {topic_id: results[topic_id] for topic_id in self._rules}

    def evaluate_touched(self, text: str, normalized: str | None = None) -> dict[str, RuleResult]:
        """The results of the topics the text touches (one of their terms
        occurs, or one of their patterns matches); every other topic's result
        is its ``miss``."""
        if not self._index and not self._regexes:
            return {}
        norm = normalize(text) if normalized is None else normalized
        hits = self._index.find(pad(norm))
        touched = dict.fromkeys(topic_id for topic_id, _group in hits)
        forms = _Forms(text)
        for topic_id, patterns in self._regexes.items():
            if topic_id not in touched and _regex_hits(patterns, forms):
                touched[topic_id] = None
        return {
            topic_id: self._result(topic_id, self._rules[topic_id], hits, text, forms) for topic_id in touched
        }

    def _result(
        self,
        topic_id: str,
        rules: KeywordRules,
        hits: Mapping[Any, list[str]],
        text: str,
        forms: _Forms | None,
    ) -> RuleResult:
        """``forms`` None: the result when no pattern matches (the miss)."""
        matched: list[str] = []
        failed: list[str] = []
        none_of = self._none_of[topic_id]
        any_hits = hits.get((topic_id, "any"), [])
        if rules.any and not any_hits:
            failed.append(none_of["any"])
        matched.extend(any_hits)
        all_hits = hits.get((topic_id, "all"), [])
        if rules.all:
            missing = [t.strip() for t in rules.all if t.strip() not in all_hits]
            if missing:
                failed.append("all: missing " + ", ".join(missing))
        matched.extend(all_hits)
        phrase_hits = hits.get((topic_id, "phrase"), [])
        if rules.phrase and not phrase_hits:
            failed.append(none_of["phrase"])
        matched.extend(phrase_hits)
        patterns = self._regexes.get(topic_id)
        if patterns:
            regex_hits = _regex_hits(patterns, forms) if forms is not None else []
            if not regex_hits:
                failed.append("regex: no pattern matched")
            matched.extend(f"/{p}/" for p in regex_hits)
        excluded = tuple(hits.get((topic_id, "exclude"), []))
        return RuleResult(
            passed=not failed and not excluded,
            has_rules=True,
            matched=tuple(dict.fromkeys(matched)),
            excluded=excluded,
            failed=tuple(failed),
        )


# The characters outside ASCII that ``re.IGNORECASE`` matches with an ASCII
# letter (sre's own case equivalences): İ and ı with i, ſ with s, the Kelvin
# sign with k. An article's text decomposed (NFKD), with these mapped,
# lower-cased and cut to ASCII holds every ASCII literal that a pattern
# needs wherever the pattern matches, in the text or in its unaccented form
# (non-ASCII characters are dropped, never replaced, so a literal's letters
# stay together); a plain substring search then skips most patterns.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_LITERAL_MIN = 3


def _required_literal(pattern: str) -> str | None:
    """The longest run of ASCII literal characters at the top level of a
    pattern, which every match contains (lower-cased); None without one."""
    try:
        parsed = re_parser.parse(pattern)
    except (re.error, RecursionError):
        return None
    best, run = "", ""
    for op, argument in parsed:
        if op is re_constants.LITERAL and isinstance(argument, int) and argument < 128:
            run += chr(argument)
            continue
        best, run = max(best, run, key=len), ""
    best = max(best, run, key=len).lower()
    return best if len(best) >= _LITERAL_MIN else None


class _Pattern:
    """A topic's regex, case-insensitive, with the literal it needs: a text
    without that literal is not searched (most texts, with many topics)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.compiled = re.compile(pattern, re.IGNORECASE)
        self.literal = _required_literal(pattern)


class _Forms:
    """An article's text as regexes see it: as written, then without
    accents, and both folded for the literal check (each worked out once,
    when a pattern first needs it)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._unaccented: str | None = text if text.isascii() else None
        self._folded: str | None = None

    @property
    def unaccented(self) -> str:
        if self._unaccented is None:
            self._unaccented = strip_accents(self.text)
        return self._unaccented

    def may_contain(self, literal: str) -> bool:
        """False only when no match of a pattern needing ``literal`` exists."""
        if self._folded is None:
            text = self.text
            if text.isascii():
                self._folded = text.lower()
            else:
                decomposed = unicodedata.normalize("NFKD", text).translate(_ASCII_FOLD).lower()
                self._folded = decomposed.encode("ascii", "ignore").decode("ascii")
        return literal in self._folded


def _regex_hits(patterns: Sequence[_Pattern], forms: _Forms) -> list[str]:
    found = []
    for pattern in patterns:
        if pattern.literal is not None and not forms.may_contain(pattern.literal):
            continue
        compiled = pattern.compiled
        if compiled.search(forms.text) or (
            forms.unaccented is not forms.text and compiled.search(forms.unaccented)
        ):
            found.append(pattern.pattern)
    return found


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
