"""Learning and re-learning the topic model: for ``monitor learn`` and for
the running service, which re-learns by itself.

:func:`learn_and_write` learns every configured topic and writes the
artifact atomically (a reader sees the old model or the new one, never
half). :func:`relearn_reason` says whether the running service should
re-learn now:

* a learned topic the model does not know, or whose inputs changed (its
  description, name, seed or negative files): at once;
* stored feedback changed since the model was learned: at most once per
  ``learning.interval`` (default an hour), counted from the model file's
  time;
* after a failed attempt (a seed file missing, say), not again before the
  interval has passed, unless the inputs changed again.

Processes that score articles pick up the new file by its modification
time (:func:`monitor.matching.build_matcher`); each match stores the model
version that decided it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.matching.artifact import write_artifact
from monitor.matching.documents import DocumentError
from monitor.matching.inputs import FeedbackExample, load_curated, topic_fingerprint
from monitor.matching.learn import learn

log = logging.getLogger(__name__)

FAILED_SUFFIX = ".failed"
LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class Learned:
    data: dict[str, Any]
    path: Path
    size: int
    feedback: int


def feedback_fingerprint(feedback: list[FeedbackExample]) -> str:
    rows = sorted((f.article_id, f.topic_id, f.relevant) for f in feedback)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def learn_and_write(
    settings: Settings,
    *,
    lexicon: bool = True,
    use_feedback: bool = True,
    output: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Learned:
    from monitor.matching import resolve_model_path
    from monitor.matching.feedback import stored_feedback

    learning = settings.learning
    curated = None
    if lexicon and (learning.lexicon or learning.examples):
        curated = load_curated(
            settings.resolve_path(learning.lexicon) if learning.lexicon else None,
            settings.resolve_path(learning.examples) if learning.examples else None,
        )
    feedback = stored_feedback(settings.database_url) if use_feedback else []
    data = learn(
        settings.topics, settings.resolve_path, curated=curated, feedback=feedback, progress=progress
    )
    data["inputs"]["feedback_sha256"] = feedback_fingerprint(feedback)
    path = output or resolve_model_path(settings)
    payload = write_artifact(data, path)
    failed = path.with_name(path.name + FAILED_SUFFIX)
    failed.unlink(missing_ok=True)
    return Learned(data, path, len(payload), len(feedback))


def relearn_reason(settings: Settings, model_data: dict[str, Any] | None, model_path: Path) -> str | None:
    """Why the running service should re-learn now, or None (see the module doc)."""
    from monitor.matching.feedback import stored_feedback

    if not settings.learning.auto:
        return None
    learned = [t for t in settings.topics if t.model == "learned"]
    if not learned:
        return None
    known = (model_data or {}).get("inputs", {}).get("topics", {})
    with_seeds = {t["id"] for t in (model_data or {}).get("topics", []) if t.get("seeds")}
    reason = None
    for topic in learned:
        try:
            current = topic_fingerprint(topic, settings.resolve_path)
        except (DocumentError, OSError):
            current = None
        if topic.id in with_seeds and (current is None or not topic.seeds):
            # The model learned this topic from seed files that are not here
            # (a deployment that ships only the model, or a config without
            # `seeds:`): learning again would lose them.
            _warn_once(f"topic {topic.id}: its seed files are not here; the topic model is not re-learned")
            return None
        if current is None:
            continue  # a new topic whose files are missing: `monitor learn` says which
        if topic.id not in known:
            reason = f"topic {topic.id} is not learned yet"
            break
        if current != known[topic.id]:
            reason = f"the inputs of topic {topic.id} changed"
            break
    now = time.time()
    failed = model_path.with_name(model_path.name + FAILED_SUFFIX)
    recent_failure = failed.is_file() and now - failed.stat().st_mtime < settings.learning.interval
    if recent_failure and failed.read_text(encoding="utf-8").startswith(_attempt_key(settings)):
        return None  # the same inputs failed a moment ago: wait for the interval
    if reason is not None:
        return reason
    if model_data is None:
        return None
    fingerprint = feedback_fingerprint(stored_feedback(settings.database_url))
    if fingerprint == model_data.get("inputs", {}).get("feedback_sha256", feedback_fingerprint([])):
        return None
    learned_at = model_path.stat().st_mtime if model_path.is_file() else 0.0
    if now - learned_at < settings.learning.interval:
        return None
    return "feedback changed"


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def _attempt_key(settings: Settings) -> str:
    parts = []
    for topic in settings.topics:
        try:
            parts.append(topic_fingerprint(topic, settings.resolve_path))
        except (DocumentError, OSError):
            parts.append(f"{topic.id}:unreadable")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def record_failure(settings: Settings, why: str) -> None:
    """Remember a failed re-learn beside the model file: the same inputs are
    not tried again before ``learning.interval``; the model in use stays."""
    from monitor.matching import resolve_model_path

    log.error("re-learning the topic model failed, the current model stays: %s", why)
    path = resolve_model_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + FAILED_SUFFIX).write_text(
        f"{_attempt_key(settings)}\n{why}\n", encoding="utf-8"
    )


def relearn_if_due(settings: Settings, model_data: dict[str, Any] | None) -> Learned | None:
    """Re-learn and write the model when :func:`relearn_reason` says so.
    A failure is logged and remembered beside the model file (so it is not
    retried at every tick); the model in use stays."""
    from monitor.matching import resolve_model_path
    from monitor.matching.inputs import LearnError

    path = resolve_model_path(settings)
    reason = relearn_reason(settings, model_data, path)
    if reason is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + LOCK_SUFFIX), "a+b") as lock:
        try:
            # One learner at a time per model file (two workers, or a slow
            # learn redelivered by the broker): the other one skips.
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("a re-learn is already running for %s", path)
            return None
        log.warning("re-learning the topic model: %s", reason)
        try:
            learned = learn_and_write(settings)
        except (LearnError, OSError) as exc:
            record_failure(settings, str(exc))
            return None
    log.warning("re-learned the topic model: %s (%s, %s)", learned.data["version"], learned.path, reason)
    return learned
