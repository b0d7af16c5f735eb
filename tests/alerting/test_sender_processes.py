"""Senders as real processes: racing, and killed between send and mark.

Case 28 (sender part): a sender SIGKILLed after the provider received the
POST but before the row was marked leaves a claim that expires; the next
sender sends again (the provider sees at most 2 for that dedupe key) and
logs the possible duplicate. Two sender processes racing over the same rows
send each delivery exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import deliver_due
from monitor.config import Settings
from monitor.storage import Delivery, utcnow
from tests.support.webhook_receiver import Response, WebhookReceiver

MakeDelivery = Callable[..., int]
MakeSettings = Callable[..., Settings]
LoadDelivery = Callable[[int], Delivery]

SENDER = """
import json, logging, sys
from monitor.alerting import channels, deliver_due
from monitor.config import Settings
from monitor.storage import create_db_engine, make_session_factory
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
channels.REQUEST_INTERVAL_OVERRIDE = 0.0
settings = Settings.model_validate(json.loads(sys.argv[2]))
engine = create_db_engine(sys.argv[1])
report = deliver_due(make_session_factory(engine), settings, limit=1000)
print(json.dumps({"sent": report.sent, "skipped": report.skipped, "ids": report.ids}))
"""

pytestmark = pytest.mark.slow


def _spawn(db_url: str, settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SENDER, db_url, settings.model_dump_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_two_sender_processes_send_each_delivery_once(
    db_url: str,
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]})
    for i in range(40):
        make_delivery(title=f"Strike {i}")
    procs = [_spawn(db_url, settings) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    reports = [json.loads(out) for out, _ in outputs]
    assert sum(r["sent"] for r in reports) == 40
    assert not set(reports[0]["ids"]) & set(reports[1]["ids"])
    titles = [r.json["title"] for r in hook.requests]
    assert len(titles) == 40 and len(set(titles)) == 40
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Delivery.state == "sent")) == 40


def test_sender_killed_between_send_and_mark(
    db_url: str,
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]}, lease=60, send_timeout=30)
    delivery_id = make_delivery()
    # The provider accepts (records) the POST but holds the answer: the
    # sender is killed while waiting, before it can mark the row.
    hook.script(Response(status=200, delay=2.0))
    proc = _spawn(db_url, settings)
    deadline = time.monotonic() + 30
    while not hook.requests:
        assert time.monotonic() < deadline, "the sender never posted"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    row = load_delivery(delivery_id)
    assert (row.state, row.attempts) == ("sending", 1)
    assert row.lease_until is not None

    # Before the lease ends nobody resends; after it, exactly one resend.
    assert deliver_due(session_factory, settings, now=row.lease_until - timedelta(seconds=1)).handled == 0
    caplog.set_level("WARNING", logger="monitor.alerting.sender")
    later = max(utcnow(), row.lease_until + timedelta(seconds=1))
    assert deliver_due(session_factory, settings, now=later).sent == 1
    assert deliver_due(session_factory, settings, now=later + timedelta(hours=1)).handled == 0
    hook.wait_idle()
    assert len(hook.requests) == 2  # at most one duplicate: the documented case
    assert load_delivery(delivery_id).state == "sent"
    key = load_delivery(delivery_id).dedupe_key
    assert any(key in r.getMessage() and "duplicate" in r.getMessage() for r in caplog.records)
