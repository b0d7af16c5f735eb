"""Celery tasks: thin wrappers over the library's stages.

Each task loads nothing itself: the per-process ``Runtime`` (config,
database, matcher) is built on first use in the worker child, after the
fork, and re-reads the config when the file changes. All correctness lives in
the stage functions and the database; a task that runs twice does nothing
twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from monitor.alerting import deliver_due
from monitor.alerting.digest import make_due_digests
from monitor.alerting.digest_sender import send_digests
from monitor.ingest.dispatch import queue_due_feeds, queue_next_of_host
from monitor.ingest.outcome import PollStatus
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.matching.relearn import record_failure
from monitor.matching.stage import classify_pending
from monitor.retention import prune
from monitor.runtime import Runtime
from monitor.storage import utcnow
from workers.app import app, settings

log = logging.getLogger(__name__)

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        else:
            _runtime.reload()
        return _runtime


def _limits(hard: float) -> dict[str, float]:
    return {"time_limit": hard, "soft_time_limit": settings.workers.soft_limit(hard)}


@app.task(name="monitor.tick", **_limits(settings.workers.tick_time_limit))
def tick() -> dict[str, Any]:
    """Beat's tick: queue one poll per due feed. Cheap and safe to double."""
    rt = runtime()
    sync_feeds(rt.session_factory, rt.settings)
    ids = queue_due_feeds(rt.session_factory, rt.settings)
    for feed_id in ids:
        poll_feed_task.delay(feed_id)
    return {"queued": len(ids)}


@app.task(name="monitor.poll_feed", bind=True, **_limits(settings.workers.poll_time_limit))
def poll_feed_task(self: Task, feed_id: int) -> dict[str, Any]:
    """Poll one feed. The owner of its lease is this task's id, so a
    redelivery of this very message may resume, and a duplicate message
    (a doubled tick) finds the lease held and does nothing."""
    rt = runtime()
    outcome = poll_feed(rt.session_factory, rt.settings, feed_id, owner=str(self.request.id))
    if outcome.new_article_ids:
        classify_task.delay(outcome.new_article_ids)
    if outcome.status != PollStatus.SKIPPED:
        # The host's slot this poll held is free: its next due feed takes it.
        next_id = queue_next_of_host(rt.session_factory, rt.settings, feed_id)
        if next_id is not None:
            poll_feed_task.delay(next_id)
    return {"feed": feed_id, "status": outcome.status, "new": len(outcome.new_article_ids)}


@app.task(name="monitor.classify", **_limits(settings.workers.classify_time_limit))
def classify_task(article_ids: list[int] | None = None) -> dict[str, Any]:
    """Classify the given (or all pending) articles; queue the new alerts."""
    rt = runtime()
    result = classify_pending(rt.session_factory, rt.settings, rt.matcher, article_ids=article_ids)
    if result.delivery_ids:
        deliver_task.delay(result.delivery_ids)
    return {"articles": result.articles, "matches": len(result.matches)}


@app.task(name="monitor.deliver", **_limits(settings.workers.deliver_time_limit))
def deliver_task(delivery_ids: list[int] | None = None) -> dict[str, Any]:
    """Send the given (or all due) deliveries from the outbox."""
    rt = runtime()
    budget = settings.workers.work_budget(settings.workers.deliver_time_limit)
    result = deliver_due(rt.session_factory, rt.settings, only_ids=delivery_ids, budget=budget)
    return {"sent": result.sent, "retried": result.retried, "dead": result.dead}


@app.task(name="monitor.digests", **_limits(settings.workers.deliver_time_limit))
def digests_task() -> dict[str, Any]:
    """Compose the digests that became due and send what the digest outbox
    holds (a part at least per run; the rest at the next run)."""
    rt = runtime()
    budget = settings.workers.work_budget(settings.workers.deliver_time_limit)
    started = time.monotonic()
    created = make_due_digests(rt.session_factory, rt.settings, now=utcnow())
    report = send_digests(rt.session_factory, rt.settings, budget=budget - (time.monotonic() - started))
    return {"created": len(created), "sent": report.sent, "parts": report.parts_sent}


@app.task(name="monitor.sweep", **_limits(settings.workers.classify_time_limit))
def sweep() -> dict[str, Any]:
    """Re-drive what a lost message left behind: pending articles, due alerts.

    Redis can lose queued messages (a restart without AOF) and a hard time
    limit acks a task it killed; the database still says what is pending.
    """
    rt = runtime()
    started = time.monotonic()
    classified = classify_pending(rt.session_factory, rt.settings, rt.matcher, limit=500)
    budget = settings.workers.work_budget(settings.workers.classify_time_limit)
    delivered = deliver_due(rt.session_factory, rt.settings, budget=budget - (time.monotonic() - started))
    return {"classified": classified.articles, "sent": delivered.sent}


@app.task(name="monitor.relearn", **_limits(settings.workers.learn_time_limit))
def relearn() -> dict[str, Any]:
    """Re-learn the topic model when feedback or a topic changed (a no-op
    otherwise); workers pick up the new file by its modification time."""
    rt = runtime()
    try:
        version = rt.relearn_if_due()
    except SoftTimeLimitExceeded:
        # Not again at the next check: the same inputs would take as long.
        record_failure(rt.settings, "learning took longer than workers.learn_time_limit")
        raise
    return {"learned": version}


@app.task(name="monitor.prune", **_limits(settings.workers.classify_time_limit))
def prune_task() -> dict[str, Any]:
    """Delete what retention no longer keeps, in batches, within the task's budget."""
    rt = runtime()
    result = prune(
        rt.session_factory,
        rt.settings,
        budget=settings.workers.work_budget(settings.workers.classify_time_limit),
    )
    return {"removed": result.removed, "complete": result.complete}
