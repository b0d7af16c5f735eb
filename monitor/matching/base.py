"""The contract of the matching stage.

Every matcher (keyword rules, the learned topic model, their combination)
scores a batch of articles against every configured topic and says, per
(article, topic), a score in [0, 1], the threshold it was compared with,
the decision, and evidence a person can check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ArticleText:
    title: str
    summary: str
    language: str | None = None
    # The start of the article page's main text, when the feed carries only
    # a teaser and the page was read (``monitor.ingest.fulltext``).
    body: str = ""

    @property
    def text(self) -> str:
        """What is classified: the title and the summary, as a feed item
        carries them, then the start of the page's text when there is one."""
        if not self.summary:
            head = self.title
        elif not self.title:
            head = self.summary
        else:
            head = f"{self.title}. {self.summary}"
        return f"{head}\n{self.body}" if self.body else head


@dataclass(frozen=True)
class TopicDecision:
    topic_id: str
    score: float
    threshold: float
    matched: bool
    # JSON-serialisable: matched terms, nearest seed passage, model version,
    # and a one-line ``reason`` in words.
    evidence: dict[str, Any] = field(default_factory=dict)


class TopicMatcher(Protocol):
    @property
    def version(self) -> str:
        """Identifies the rules/model that produced a decision (stored with matches)."""
        ...

    def classify(self, articles: Sequence[ArticleText]) -> list[list[TopicDecision]]:
        """One list per article, one decision per configured topic, in config order."""
        ...
