"""What a topic is learned from: its config entry, its files, our optional
hand-written additions, and stored feedback.

A topic is what a user writes in the config: an id, a name, a description,
a few saved articles (``seeds``) and, optionally, articles that look close
but are not the topic (``negatives``). Seed files are read as they were
saved (:mod:`monitor.matching.documents` keeps the headline and the prose)
and cut into passages: the lead (headline and first paragraph, what a feed
item carries) and paragraph-sized passages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config import TopicConfig
from monitor.matching.documents import Article, DocumentError, expand_paths, read_articles, split_passages
from monitor.matching.text import sentences


class LearnError(Exception):
    """Inputs learn cannot use; the message names the topic and the file."""


@dataclass(frozen=True)
class FeedbackExample:
    article_id: int
    topic_id: str
    relevant: bool
    text: str


@dataclass(frozen=True)
class Curated:
    """Our optional hand-written additions for the shipped topics: vocabulary
    groups, per-topic gates and evidence (conjunctions of groups), and short
    examples and counter-examples."""

    groups: dict[str, list[str]]
    topics: dict[str, dict[str, Any]]
    examples: list[dict[str, Any]]
    sha256: str

    def gate(self, topic_id: str) -> list[list[str]]:
        spec = self.topics.get(topic_id) or {}
        return [[str(c)] if isinstance(c, str) else [str(g) for g in c] for c in spec.get("gate") or []]

    def evidence(self, topic_id: str) -> list[list[str]]:
        spec = self.topics.get(topic_id) or {}
        return [[str(g) for g in c] for c in spec.get("evidence") or []]


def load_curated(lexicon: Path | None, examples: Path | None) -> Curated | None:
    """The hand-written additions, or None when the config names none."""
    if lexicon is None and examples is None:
        return None
    digest = hashlib.sha256()
    groups: dict[str, list[str]] = {}
    topics: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for path in (p for p in (lexicon, examples) if p is not None):
        try:
            raw = path.read_bytes()
            data = yaml.safe_load(raw) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LearnError(f"{path}: cannot read: {exc}") from None
        if not isinstance(data, dict):
            raise LearnError(f"{path}: expected a mapping")
        digest.update(raw)
        groups.update({str(g): [str(t) for t in terms] for g, terms in (data.get("groups") or {}).items()})
        topics.update({str(k): dict(v or {}) for k, v in (data.get("topics") or {}).items()})
        items.extend(data.get("examples") or [])
    curated = Curated(groups, topics, items, digest.hexdigest())
    for topic_id in topics:
        for conjunction in [*curated.gate(topic_id), *curated.evidence(topic_id)]:
            for group in conjunction:
                if group not in groups:
                    raise LearnError(f"{lexicon}: topic {topic_id} uses undefined group {group!r}")
    return curated


@dataclass(frozen=True)
class Passage:
    source: str  # the seed file's name
    number: int  # 0: the lead (headline and first paragraph); 1..n: passages
    text: str
    lang: str | None


@dataclass
class TopicInputs:
    topic: TopicConfig
    seeds: list[Article]
    negatives: list[Article]
    seed_files: list[Path]
    negative_files: list[Path]
    passages: list[Passage] = field(default_factory=list)
    negative_passages: list[Passage] = field(default_factory=list)

    def seed_language(self, source: str) -> str:
        return next((p.lang or "und" for p in self.passages if p.source == source), "und")


def article_passages(article: Article) -> list[Passage]:
    from monitor.ingest.normalize import detect_language

    lang = detect_language(article.text)
    out = [Passage(article.source, 0, article.lead, lang)] if article.title and article.paragraphs else []
    body = "\n".join(article.paragraphs)
    out.extend(Passage(article.source, i, text, lang) for i, text in enumerate(split_passages(body), 1))
    return out


def read_inputs(topic: TopicConfig, resolve: Callable[[str], Path]) -> TopicInputs:
    """A topic's seed and negative articles, read and cut into passages."""
    try:
        seed_files = expand_paths([resolve(p) for p in topic.seeds])
        negative_files = expand_paths([resolve(p) for p in topic.negatives])
        seeds = read_articles(seed_files)
        negatives = read_articles(negative_files)
    except DocumentError as exc:
        raise LearnError(f"topic {topic.id}: {exc}") from None
    inputs = TopicInputs(topic, seeds, negatives, seed_files, negative_files)
    for article in seeds:
        found = article_passages(article)
        if not found:
            raise LearnError(
                f"topic {topic.id}: {article.source}: no article text found (only page clutter?)"
            )
        inputs.passages.extend(found)
    for article in negatives:
        inputs.negative_passages.extend(article_passages(article))
    return inputs


def description_text(topic: TopicConfig) -> str:
    """The description in one line (the name when there is none)."""
    return " ".join((topic.description or topic.name).split())


def description_sentences(topic: TopicConfig) -> list[str]:
    """Each sentence of a description of several (each is one more positive)."""
    found = [s for s in sentences(topic.description) if len(s.split()) >= 3]
    return found if len(found) > 1 else []


def topic_fingerprint(topic: TopicConfig, resolve: Callable[[str], Path]) -> str:
    """The sha256 of what a topic is learned from: its name, its description
    and the contents of its seed and negative files (a changed one is a
    reason to learn again). Raises DocumentError when a file is missing."""
    digest = hashlib.sha256()
    digest.update(json.dumps([topic.id, topic.name, topic.description]).encode())
    for kind, paths in (("seeds", topic.seeds), ("negatives", topic.negatives)):
        digest.update(kind.encode())
        for path in expand_paths([resolve(p) for p in paths]):
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_digest(path: Path) -> list[str]:
    return [path.name, hashlib.sha256(path.read_bytes()).hexdigest()]
