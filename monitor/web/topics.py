"""What the Topics page shows: what the model learned per topic, and the
threshold preview.

:func:`learned_summary` is the one function that reads the model artifact:
it returns, per topic, the dict of ``monitor topics show ID --json``
(``id, name, model_version, threshold, center, seeds[{file, passages,
kept}], passages_kept, passages, negatives, gate{lang: [...]}, evidence{lang:
[...]}, pairs, curated_gate``): the learned terms per language, and the
hand-written gate when the lexicon was used.

The threshold preview re-scores the last 30 days' articles with the current
model (the backtest, nothing written) in a background thread, once per
(topic, model version); any threshold is then previewed from those scores
at once. Embedding is slow on two cores, so the page says "computing" and
refreshes itself until the scores are there.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, TopicConfig
from monitor.matching import active_model_path, build_matcher
from monitor.matching.backtest import ThresholdPreview, threshold_preview
from monitor.matching.model import ModelError, load_model, topic_summary
from monitor.storage import utcnow
from monitor.storage.browse import daily_counts, feedback_counts
from monitor.storage.views import MatchFilter

log = logging.getLogger(__name__)

PREVIEW_WINDOW = timedelta(days=30)
PREVIEW_TTL = 600.0  # seconds a preview's scores are reused before the window is re-scored


def learned_summary(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per topic id, what the model in use learned (empty when there is none)."""
    try:
        model = load_model(active_model_path(settings))
    except ModelError as exc:
        log.warning("topic model unreadable: %s", exc)
        return {}
    if model is None:
        return {}
    return {entry["id"]: topic_summary(entry, model.version) for entry in model.data["topics"]}


@dataclass
class _Run:
    started: float
    finished: float | None = None
    preview: ThresholdPreview | None = None
    error: str | None = None


class PreviewRunner:
    """Threshold previews, computed one at a time in a background thread."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], _Run] = {}
        self._busy = threading.Lock()  # one re-scoring at a time: it embeds on every core

    def get(self, topic_id: str) -> _Run:
        """The topic's preview run, started (or restarted when stale) if needed."""
        matcher = build_matcher(self.settings)
        key = (topic_id, matcher.version)
        with self._lock:
            run = self._runs.get(key)
            stale = run is not None and run.finished is not None and time.time() - run.finished > PREVIEW_TTL
            if run is None or stale:
                run = _Run(started=time.time())
                self._runs[key] = run
                threading.Thread(
                    target=self._compute, args=(topic_id, run), name=f"preview-{topic_id}", daemon=True
                ).start()
            return run

    def _compute(self, topic_id: str, run: _Run) -> None:
        with self._busy:
            try:
                with self.factory() as session:
                    run.preview = threshold_preview(
                        session, build_matcher(self.settings), topic_id, PREVIEW_WINDOW
                    )
            except Exception as exc:  # shown on the page instead of a preview
                log.exception("threshold preview of %s failed", topic_id)
                run.error = f"{type(exc).__name__}: {exc}"
            finally:
                run.finished = time.time()


@dataclass(frozen=True)
class TopicOverview:
    """A configured topic as the Topics page and ``/api/v1/topics`` show it."""

    config: TopicConfig
    learned: dict[str, Any] | None  # :func:`learned_summary`'s dict; None when not learned
    matches_30d: int
    relevant: int  # feedback: judged relevant
    not_relevant: int

    @property
    def threshold(self) -> float:
        """The threshold in force: the config's, else the learned default."""
        if self.config.threshold is not None:
            return self.config.threshold
        return float(self.learned["threshold"]) if self.learned else 0.5

    def as_json(self) -> dict[str, Any]:
        topic = self.config
        return {
            "id": topic.id,
            "name": topic.name,
            "description": topic.description,
            "model": topic.model,
            "threshold": self.threshold,
            "threshold_configured": topic.threshold,
            "channels": list(topic.channels),
            "rules": topic.rules.model_dump(),
            "matches_last_30_days": self.matches_30d,
            "feedback": {"relevant": self.relevant, "not_relevant": self.not_relevant},
            "learned": self.learned,
        }


def topic_overviews(settings: Settings, session: Session) -> list[TopicOverview]:
    learned = learned_summary(settings)
    today = utcnow().date()
    counts = daily_counts(session, MatchFilter(), first=today - timedelta(days=29), last=today)
    judged = feedback_counts(session)
    return [
        TopicOverview(
            config=topic,
            learned=learned.get(topic.id) if topic.model == "learned" else None,
            matches_30d=counts.total(topic.id),
            relevant=judged.get(topic.id, (0, 0))[0],
            not_relevant=judged.get(topic.id, (0, 0))[1],
        )
        for topic in settings.topics
    ]
