"""When to try again, and when a task has been told to stop.

Every retry in the service waits by :func:`backoff` (a feed after fetch
errors, an alert after failed sends, a transaction on a locked SQLite file),
and every stage that may run inside a Celery task recognises the task's soft
time limit by :func:`is_soft_time_limit`.
"""

from __future__ import annotations

# 2**60 times any first wait is beyond every cap in use.
_MAX_DOUBLINGS = 60


def backoff(first: float, failures: int, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (1-based):
    ``first`` after one, twice that after two, four times after three, never
    more than ``cap``."""
    doublings = max(0, failures - 1)
    if doublings > _MAX_DOUBLINGS:
        return float(cap)
    return float(min(cap, first * 2**doublings))


def is_soft_time_limit(exc: BaseException) -> bool:
    """True for Celery's ``SoftTimeLimitExceeded``: the task ran out of time,
    it is not a bug. Matched by name, so the stages do not import Celery
    (the embedded mode runs without it)."""
    return type(exc).__name__ == "SoftTimeLimitExceeded"
