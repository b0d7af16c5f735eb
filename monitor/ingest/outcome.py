"""What one poll of one feed ended in, for the service, the workers and people."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class PollStatus(enum.StrEnum):
    OK = "ok"  # fetched and parsed; new articles stored, if any
    NOT_MODIFIED = "not_modified"  # 304
    ERROR = "error"  # backs off, polled again later
    GONE = "gone"  # 410: polling stopped until the feed is reset
    SKIPPED = "skipped"  # not due, not active, or leased by another poll
    PARKED = "parked"  # its polls kept dying: parked for fetch.max_backoff

    @property
    def failed(self) -> bool:
        return self in (PollStatus.ERROR, PollStatus.GONE, PollStatus.PARKED)


@dataclass
class PollOutcome:
    feed_id: int
    url: str  # as shown to people (no credentials)
    name: str
    status: PollStatus
    new_article_ids: list[int] = field(default_factory=list)
    items_seen: int = 0
    error: str | None = None
    next_check_at: datetime | None = None

    def describe(self) -> str:
        """One line for a person watching ``monitor run``."""
        when = f" (next check {self.next_check_at.astimezone():%H:%M:%S})" if self.next_check_at else ""
        if self.status == PollStatus.OK:
            return f"{self.name}: {len(self.new_article_ids)} new of {self.items_seen} items{when}"
        if self.status == PollStatus.NOT_MODIFIED:
            return f"{self.name}: not modified{when}"
        if self.status == PollStatus.SKIPPED:
            return f"{self.name}: skipped, another poll holds it"
        return f"{self.name}: {self.status}: {self.error}{when}"
