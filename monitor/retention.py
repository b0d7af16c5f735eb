"""Retention: old rows pruned in small batches, so the database stops growing.

``retention: {articles: 90d, matches: 365d, deliveries: 30d}`` in the config
(None keeps a kind forever). :func:`prune` deletes what has aged out, one
batch of ``retention.batch_size`` rows per transaction, deliveries first,
then matches, then the articles left without a match; what it keeps and why
is in ``monitor.storage.retention``. The embedded service runs it every
``retention.interval``, Celery beat through the ``monitor.prune`` task, and
``monitor db prune [--dry-run]`` on demand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest.schedule import format_seconds
from monitor.storage import retention, run_in_transaction, utcnow

log = logging.getLogger(__name__)

KINDS = ("deliveries", "matches", "articles")


@dataclass
class PruneReport:
    dry_run: bool
    cutoffs: dict[str, datetime | None]
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0
    complete: bool = True  # False when the time budget ran out first

    def lines(self, keep: dict[str, float | None]) -> list[str]:
        """One line per kind, for a person."""
        verb = "would remove" if self.dry_run else "removed"
        out = []
        for kind in KINDS:
            cutoff = self.cutoffs[kind]
            if cutoff is None:
                out.append(f"{kind:10}  kept forever (retention.{kind} is not set)")
                continue
            age = format_seconds(keep[kind] or 0)
            out.append(
                f"{kind:10}  {verb} {self.removed[kind]:,} older than {age} (before {cutoff:%Y-%m-%d %H:%M} UTC)"
            )
        if not self.complete:
            out.append("stopped at its time budget; the rest goes at the next run")
        return out

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": dict(self.removed),
            "cutoffs": {k: v.isoformat() if v else None for k, v in self.cutoffs.items()},
            "complete": self.complete,
        }


def retention_ages(settings: Settings) -> dict[str, float | None]:
    keep = settings.retention
    return {"deliveries": keep.deliveries, "matches": keep.matches, "articles": keep.articles}


def prune(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    budget: float | None = None,
) -> PruneReport:
    """Delete what retention no longer keeps (or, ``dry_run``, count it)."""
    now = now or utcnow()
    cutoffs = {
        kind: None if age is None else now - timedelta(seconds=age)
        for kind, age in retention_ages(settings).items()
    }
    report = PruneReport(dry_run=dry_run, cutoffs=cutoffs)
    if dry_run:
        with session_factory() as session:
            report.removed = retention.count_old(session, **cutoffs)
        return report
    started = time.monotonic()
    limit = settings.retention.batch_size
    steps: list[tuple[str, Callable[[Session, datetime], int]]] = [
        ("deliveries", lambda s, c: retention.delete_old_deliveries(s, c, limit=limit)),
        ("matches", lambda s, c: retention.delete_old_matches(s, c, limit=limit)),
        (
            "articles",
            lambda s, c: retention.delete_old_articles(s, c, limit=limit, matches_cutoff=cutoffs["matches"]),
        ),
    ]
    for kind, step in steps:
        cutoff = cutoffs[kind]
        if cutoff is None:
            continue
        while True:
            if budget is not None and time.monotonic() - started > budget:
                report.complete = False
                return report
            removed = run_in_transaction(session_factory, _batch(step, cutoff))
            report.batches += 1
            report.removed[kind] += removed
            if removed < limit:
                break
    if any(report.removed.values()):
        log.info("pruned %s", ", ".join(f"{n} {kind}" for kind, n in report.removed.items()))
    return report


def _batch(step: Callable[[Session, datetime], int], cutoff: datetime) -> Callable[[Session], int]:
    return lambda session: step(session, cutoff)
