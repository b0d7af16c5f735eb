"""The ``workers`` section: how Celery runs the stages (queues, beat's
cadence, time limits and the visibility timeout they imply)."""

from __future__ import annotations

from pydantic import Field, model_validator

from monitor.config.fields import Duration, ReferenceProblems
from monitor.config.fields import Strict as _Strict


class WorkerSettings(_Strict):
    """Celery settings (distributed mode). Every task has a soft and a hard
    time limit; the Redis visibility timeout must be at least twice the
    longest hard limit, or a slow task is handed to a second worker while the
    first still runs it (checked at load)."""

    queue: str = Field(
        "monitor",
        description="the Celery queue of classification and alerts; polls and beat's tick go "
        "through '<queue>.poll'",
    )
    beat_tick: Duration = Field(15.0, description="how often beat looks for due feeds")
    sweep_interval: Duration = Field(30.0, description="how often beat re-drives lost work")
    poll_time_limit: Duration = Field(120.0, description="hard limit of one poll task")
    classify_time_limit: Duration = Field(300.0)
    deliver_time_limit: Duration = Field(180.0)
    # Re-learning the topic model takes a minute or three (five topics: about
    # one minute on two cores); a longer one is recorded as failed and waits
    # for learning.interval.
    learn_time_limit: Duration = Field(420.0, description="hard limit of one automatic re-learn")
    relearn_check: Duration = Field(60.0, description="how often beat asks whether the topic model is due")
    visibility_timeout: Duration = Field(900.0)
    # kombu re-queues the unacked messages of a dead worker only this often
    # (x throttle); its defaults make that up to ~100 s after the visibility
    # timeout. The per-feed lease re-drives polls sooner either way.
    unacked_restore_interval: Duration = Field(10.0)
    unacked_restore_throttle: float = Field(1.0, ge=0, description="a count: scan on every Nth restore")
    max_memory_per_child: int = Field(512_000, description="KiB; a worker child above it is replaced")

    # The soft limit fires first (a fraction of the hard one), so a task can
    # record its state before the hard limit kills it.
    soft_limit_fraction: float = Field(0.8, gt=0, lt=1)

    def soft_limit(self, hard: float) -> float:
        return hard * self.soft_limit_fraction

    def work_budget(self, hard: float) -> float:
        """Seconds a task may spend starting new work: its soft limit less a
        margin to record the last outcome (a tenth, at most 5 s)."""
        soft = self.soft_limit(hard)
        return soft - min(5.0, 0.1 * soft)

    @property
    def poll_queue(self) -> str:
        """Polls (network waits) and beat's tick go through their own queue:
        queued behind a backlog of classification (CPU), due feeds would wait
        for it; a worker on this queue alone (a thread pool) keeps them on time."""
        return f"{self.queue}.poll"

    @property
    def tick_time_limit(self) -> float:
        """The beat tick only queues polls: it needs less than a poll."""
        return min(60.0, self.poll_time_limit)

    @property
    def longest_time_limit(self) -> float:
        return max(
            self.poll_time_limit, self.classify_time_limit, self.deliver_time_limit, self.learn_time_limit
        )

    @model_validator(mode="after")
    def _visibility(self) -> WorkerSettings:
        if self.visibility_timeout < 2 * self.longest_time_limit:
            message = (
                f"visibility_timeout ({self.visibility_timeout:g}s) must be at least twice the "
                f"longest task time limit ({self.longest_time_limit:g}s)"
            )
            raise ReferenceProblems([(("visibility_timeout",), message)])
        return self
