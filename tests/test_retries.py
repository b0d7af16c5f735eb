"""One backoff for every retry; Celery's soft time limit recognised without Celery."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from monitor.retries import backoff, is_soft_time_limit


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    assert [backoff(30, n, 3600) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(30, 500, 3600) == 3600
    assert backoff(30, 0, 3600) == 30  # no failure counted yet: the first wait
    assert backoff(60, 3, 10_000) == 240  # a feed polled every minute, after three errors


def test_soft_time_limit_is_recognised_and_nothing_else() -> None:
    assert is_soft_time_limit(SoftTimeLimitExceeded())
    assert not is_soft_time_limit(TimeoutError("a socket timeout is an error, not the task's limit"))
