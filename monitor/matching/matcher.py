"""The matcher the pipeline uses: learned topic model + keyword rules.

Per topic (config order):

* ``model: rules`` -- the keyword rules alone decide: score 1.0 when they
  hold, 0.0 otherwise; threshold from YAML or 0.5.
* ``model: learned`` -- the learned model's score (see
  :mod:`monitor.matching.model`), compared with the YAML threshold or the
  default learned for the topic. Keyword rules, when given, act as gates:
  must-rules that fail or an ``exclude`` term set the score to 0.0 (the
  model's own score stays in the evidence as ``model_score``).

When no artifact exists (or it lacks a topic) a learned topic falls back to
its keyword rules; with no rules either it never matches, and its evidence
says to run ``monitor learn``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, cast

from monitor.config import TopicConfig
from monitor.matching.base import ArticleText, TopicDecision
from monitor.matching.keywords import KeywordRuleSet, RuleResult, rules_fingerprint
from monitor.matching.model import NOT_A_CANDIDATE, LearnedScore, TopicModel
from monitor.matching.text import normalize

log = logging.getLogger(__name__)

RULES_THRESHOLD = 0.5


class CombinedMatcher:
    """Scores articles against every configured topic (the ``TopicMatcher`` protocol)."""

    def __init__(self, topics: Sequence[TopicConfig], model: TopicModel | None) -> None:
        self.topics = tuple(topics)
        self.model = model
        self.rules = KeywordRuleSet({t.id: t.rules for t in self.topics})
        self._learned = [
            t.id for t in self.topics if t.model == "learned" and model is not None and model.has_topic(t.id)
        ]
        for topic in self.topics:
            if topic.model == "learned" and topic.id not in self._learned:
                log.warning(
                    "topic %r: no learned model%s; falling back to %s (run `monitor learn`)",
                    topic.id,
                    "" if model is None else f" in {model.version}",
                    "its keyword rules" if not topic.rules.empty else "never matching",
                )
        rules_hash = hashlib.sha256(
            rules_fingerprint((t.id, t.rules) for t in self.topics).encode()
        ).hexdigest()[:8]
        base = model.version if model is not None else "rules"
        self._version = f"{base}+r{rules_hash}"
        # One shared decision per topic for articles outside its vocabulary
        # (the common case with many topics): built once, never mutated.
        self._not_candidate: dict[str, TopicDecision] = {}
        for topic in self.topics:
            if topic.id in self._learned and topic.rules.empty:
                threshold = (
                    topic.threshold if topic.threshold is not None else NOT_A_CANDIDATE.default_threshold
                )
                evidence = {**NOT_A_CANDIDATE.evidence, "model_version": self._version}
                evidence["reason"] = f"below threshold (0.00 vs {threshold:.2f}): {NOT_A_CANDIDATE.reason}"
                self._not_candidate[topic.id] = TopicDecision(topic.id, 0.0, threshold, False, evidence)
        # Topics decided by their rules alone: the decision when an article
        # touches none of a topic's terms, shared like ``_not_candidate``;
        # an article pays only for the topics its words touch.
        # The row of an article that touches no topic; each article copies it
        # and fills in the learned topics and the rule topics it touches.
        self._position = {topic.id: index for index, topic in enumerate(self.topics)}
        self._learned_set = frozenset(self._learned)
        self._learned_positions = [self._position[topic_id] for topic_id in self._learned]
        self._untouched_row: list[TopicDecision | None] = []
        for topic in self.topics:
            miss = self.rules.miss(topic.id)
            shared_miss = (
                None if topic.id in self._learned_set or miss is None else self._rules_only(topic, miss)
            )
            self._untouched_row.append(shared_miss)

    @property
    def version(self) -> str:
        return self._version

    def unlearned(self) -> list[str]:
        """Topics to be decided by the learned model that it does not hold
        (never learned, or learned into another file): they never match."""
        return [
            t.id for t in self.topics if t.model == "learned" and t.id not in self._learned and t.rules.empty
        ]

    def classify(self, articles: Sequence[ArticleText]) -> list[list[TopicDecision]]:
        texts = [a.text for a in articles]
        normalized = [normalize(t) for t in texts]
        learned: list[dict[str, LearnedScore]] = [{} for _ in articles]
        if self._learned and self.model is not None:
            learned = self.model.score(
                texts, normalized, self._learned, languages=[a.language for a in articles]
            )
        out: list[list[TopicDecision]] = []
        shared = self._not_candidate
        learned_ids = self._learned_set
        for index, text in enumerate(texts):
            touched = self.rules.evaluate_touched(text, normalized[index])
            row: list[TopicDecision | None] = list(self._untouched_row)
            for topic_id, rules in touched.items():
                if topic_id not in learned_ids:
                    position = self._position[topic_id]
                    row[position] = self._rules_only(self.topics[position], rules)
            scores = learned[index]
            for position in self._learned_positions:
                topic = self.topics[position]
                score = scores.get(topic.id)
                if score is NOT_A_CANDIDATE and topic.id in shared:
                    row[position] = shared[topic.id]
                    continue
                found = touched.get(topic.id) or self.rules.miss(topic.id)
                row[position] = self._decide(topic, found, score)
            out.append(cast(list[TopicDecision], row))
        return out

    def _decide(self, topic: TopicConfig, rules: RuleResult, learned: LearnedScore | None) -> TopicDecision:
        if learned is None:
            return self._rules_only(topic, rules)
        if learned is NOT_A_CANDIDATE and topic.id in self._not_candidate:
            return self._not_candidate[topic.id]
        threshold = topic.threshold if topic.threshold is not None else learned.default_threshold
        evidence: dict[str, Any] = dict(learned.evidence)
        evidence["model_version"] = self.version
        score = learned.score
        if rules.has_rules:
            evidence["rules"] = rules.describe()
            if rules.matched:
                evidence["rule_terms"] = list(rules.matched)
            if not rules.passed:
                evidence["model_score"] = round(score, 4)
                score = 0.0
        matched = score >= threshold
        if rules.has_rules and not rules.passed:
            reason = f"keyword rules veto: {rules.describe()}"
        else:
            verdict = "matches" if matched else "below threshold"
            reason = f"{verdict} ({score:.2f} vs {threshold:.2f}): {learned.reason}"
        evidence["reason"] = reason
        return TopicDecision(topic.id, round(score, 4), threshold, matched, evidence)

    def _rules_only(self, topic: TopicConfig, rules: RuleResult) -> TopicDecision:
        threshold = topic.threshold if topic.threshold is not None else RULES_THRESHOLD
        evidence: dict[str, Any] = {"model_version": self.version, "mode": "rules"}
        if not rules.has_rules:
            evidence["terms"] = []
            evidence["reason"] = "no learned model for this topic and no keyword rules: run `monitor learn`"
            return TopicDecision(topic.id, 0.0, threshold, False, evidence)
        score = 1.0 if rules.passed else 0.0
        evidence["terms"] = list(rules.matched)
        if rules.excluded:
            evidence["excluded"] = list(rules.excluded)
        evidence["reason"] = rules.describe()
        return TopicDecision(topic.id, score, threshold, score >= threshold, evidence)
