"""Embedded mode: the whole pipeline in one process, on a schedule.

The same library functions the Celery tasks call (poll, classify, deliver)
run here in a loop: every tick polls the feeds that are due (in a small
thread pool, since fetching waits on the network), classifies what is new,
and sends what the outbox holds. ``run_once`` polls every feed once, finishes
classification and delivery, and returns: for cron and tests.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType

from monitor.alerting import DeliveryReport, deliver_due
from monitor.ingest.dispatch import active_feed_ids, due_feed_ids, host_lanes
from monitor.ingest.outcome import PollOutcome, PollStatus
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.matching.stage import ClassifyReport, classify_pending
from monitor.retention import PruneReport, prune
from monitor.runtime import Runtime

log = logging.getLogger(__name__)

Reporter = Callable[[str], None]
FETCH_THREADS = 8
DELIVERY_BATCH = 100
RELEARN_CHECK_EVERY = 60.0  # seconds between checks whether the topic model is due
# Seconds one tick may spend pruning (batches go on at the next tick).
PRUNE_BUDGET = 5.0


@dataclass
class CycleReport:
    polls: list[PollOutcome] = field(default_factory=list)
    classified: ClassifyReport = field(default_factory=ClassifyReport)
    deliveries: list[DeliveryReport] = field(default_factory=list)

    @property
    def new_articles(self) -> int:
        return sum(len(p.new_article_ids) for p in self.polls)

    @property
    def sent(self) -> int:
        return sum(d.sent for d in self.deliveries)


def _quiet(_: str) -> None:
    return None


class EmbeddedService:
    def __init__(self, runtime: Runtime, *, report: Reporter = _quiet) -> None:
        self.runtime = runtime
        self.report = report
        self._stop = threading.Event()
        self._last_prune: float | None = None
        self._owner_prefix = f"embedded-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._learner: threading.Thread | None = None
        self._last_relearn_check = float("-inf")

    def stop(self) -> None:
        self._stop.set()

    def poll(self, *, all_feeds: bool) -> list[PollOutcome]:
        rt = self.runtime
        sync_feeds(rt.session_factory, rt.settings)
        ids = active_feed_ids(rt.session_factory) if all_feeds else due_feed_ids(rt.session_factory)
        if not ids:
            return []

        def lane(feed_ids: list[int]) -> list[PollOutcome]:
            results = []
            for feed_id in feed_ids:
                owner = f"{self._owner_prefix}-{uuid.uuid4().hex[:8]}"
                results.append(
                    poll_feed(rt.session_factory, rt.settings, feed_id, owner=owner, force=all_feeds)
                )
            return results

        # Each host's feeds are shared among at most max_per_host lanes, each
        # polling its feeds one after another: this process never has more
        # than that many requests to one host in flight (the feeds' leases
        # hold the bound across processes).
        lanes = host_lanes(rt.session_factory, ids, rt.settings.polling.max_per_host)
        outcomes: list[PollOutcome] = []
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(lanes))) as pool:
            for results in pool.map(lane, lanes):
                for outcome in results:
                    outcomes.append(outcome)
                    if outcome.status != PollStatus.SKIPPED:
                        prefix = "error " if outcome.status.failed else "polled"
                        self.report(f"{prefix} {outcome.describe()}")
        return outcomes

    def classify(self) -> ClassifyReport:
        rt = self.runtime
        result = classify_pending(rt.session_factory, rt.settings, rt.matcher)
        for match in result.matches:
            self.report(f"match  [{match.topic_id} {match.score:.2f}] {match.title}")
        return result

    def deliver(self, *, until_done: bool = False) -> DeliveryReport:
        """Send what the outbox holds, a batch at a time; with ``until_done``,
        batch after batch while batches come back full. A failed send waits
        for its backoff (the next cycle or the next run), not for this loop."""
        rt = self.runtime
        result = deliver_due(rt.session_factory, rt.settings, limit=DELIVERY_BATCH)
        last = result
        # Continue while batches come back full and something was sent: a
        # full batch of failures means the channel is down; stop there.
        while until_done and last.sent and last.handled + last.skipped >= DELIVERY_BATCH:
            more = last = deliver_due(rt.session_factory, rt.settings, limit=DELIVERY_BATCH)
            result.sent += more.sent
            result.retried += more.retried
            result.dead += more.dead
            result.skipped += more.skipped
            result.ids.extend(more.ids)
        if result.sent or result.retried or result.dead:
            self.report(f"alerts {result.sent} sent, {result.retried} to retry, {result.dead} given up")
        return result

    def relearn(self) -> None:
        """Re-learn the topic model when it is due (``learning`` in the config)."""
        version = self.runtime.relearn_if_due()
        if version is not None:
            self.report(f"learned  topic model {version}")

    def _relearn_in_background(self) -> None:
        # Learning takes a minute or two: polling and alerting go on meanwhile,
        # and the next cycle picks up the new model file.
        if self._learner is not None and self._learner.is_alive():
            return
        now = time.monotonic()
        if now - self._last_relearn_check < RELEARN_CHECK_EVERY:
            return
        self._last_relearn_check = now
        self._learner = threading.Thread(target=self._relearn_quietly, name="relearn", daemon=True)
        self._learner.start()

    def _relearn_quietly(self) -> None:
        try:
            self.relearn()
        except Exception:  # a failed re-learn must not end the service
            log.exception("re-learning the topic model failed")

    def cycle(self, *, all_feeds: bool = False) -> CycleReport:
        self.runtime.reload()
        if all_feeds:
            self.relearn()  # run --once: before classifying, so the new model decides
        else:
            self._relearn_in_background()
        report = CycleReport()
        report.polls = self.poll(all_feeds=all_feeds)
        report.classified = self.classify()
        report.deliveries.append(self.deliver(until_done=all_feeds))
        return report

    def prune_when_due(self) -> PruneReport | None:
        """Prune every ``retention.interval`` (the first time at the first
        tick), each call bounded to a few seconds so polling is not held up."""
        rt = self.runtime
        now = time.monotonic()
        if self._last_prune is not None and now - self._last_prune < rt.settings.retention.interval:
            return None
        result = prune(rt.session_factory, rt.settings, budget=PRUNE_BUDGET)
        # An unfinished prune goes on at the next tick, not an interval later.
        self._last_prune = now if result.complete else None
        if any(result.removed.values()):
            self.report("pruned " + ", ".join(f"{n} {kind}" for kind, n in result.removed.items()))
        return result

    def run_once(self) -> CycleReport:
        """Poll every active feed once, classify everything new, send what is due."""
        return self.cycle(all_feeds=True)

    def run_forever(self, *, tick: float = 5.0) -> None:
        """Tick until stopped (SIGINT/SIGTERM): poll due feeds, classify, deliver."""
        self._install_signal_handlers()
        settings = self.runtime.settings
        self.report(
            f"monitoring {len(settings.feeds)} feed(s) for {len(settings.topics)} topic(s); Ctrl-C to stop"
        )
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.cycle()
                self.prune_when_due()
            except Exception:  # one bad cycle must not end the service
                log.exception("cycle failed; continuing at the next tick")
            self._stop.wait(max(0.0, tick - (time.monotonic() - started)))
        self.report("stopped")

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.report(f"received {signal.Signals(signum).name}, finishing the current step")
            self.stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
