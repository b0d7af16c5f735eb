"""A delivery run inside a Celery task stops before its soft time limit, and
an interrupted send is recorded, not lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting import deliver_due
from monitor.config import Settings
from monitor.storage import Delivery
from tests.support.webhook_receiver import WebhookReceiver

MakeDelivery = Callable[..., int]
MakeSettings = Callable[..., Settings]
LoadDelivery = Callable[[int], Delivery]


def test_no_claim_when_the_budget_cannot_cover_a_send(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url("/a")]}, send_timeout=5.0)
    first, second = make_delivery(), make_delivery()
    assert deliver_due(session_factory, settings, budget=4.0).handled == 0
    assert hook.requests == []
    report = deliver_due(session_factory, settings, budget=60.0)
    assert report.sent == 2 and sorted(report.ids) == sorted([first, second])


def test_soft_time_limit_during_a_send_stops_the_run_and_keeps_the_row(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url("/a")]})
    first, second = make_delivery(), make_delivery()

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise SoftTimeLimitExceeded()  # what Celery raises inside the running task

    monkeypatch.setattr(channels_mod, "notify", interrupted)
    report = deliver_due(session_factory, settings)
    assert (report.sent, report.retried) == (0, 1)  # the run stopped after the interrupted send
    row = load_delivery(report.ids[0])
    assert row.state == "pending" and "soft time limit" in (row.last_error or "")
    other = second if report.ids[0] == first else first
    assert load_delivery(other).attempts == 0
