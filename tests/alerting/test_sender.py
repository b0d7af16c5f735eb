"""The outbox sender against real loopback servers, on SQLite and PostgreSQL.

Reliability cases (shared/research/reliability.md, Part 3):
27 (notifier failures: 500, 429, refused, timeout, SMTP down, then success ->
sent exactly once; N failures -> dead + one notice; False/NOMATCH never
success) and 28, sender part (a claim abandoned by a dead sender is reclaimed
and the possible duplicate logged; racing senders send each row once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import apprise
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels, deliver_due
from monitor.config import Settings
from monitor.storage import Delivery, Notice, outbox, run_in_transaction, utcnow
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import Response, WebhookReceiver

MakeDelivery = Callable[..., int]
MakeSettings = Callable[..., Settings]
LoadDelivery = Callable[[int], Delivery]


def _notices(session_factory: sessionmaker[Session]) -> list[Notice]:
    with session_factory() as session:
        return list(session.scalars(select(Notice).order_by(Notice.id)))


def test_success_is_sent_once(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url("/alerts")]})
    delivery_id = make_delivery()
    now = utcnow()

    report = deliver_due(session_factory, settings, now=now)
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    again = deliver_due(session_factory, settings, now=now + timedelta(hours=1))
    assert again.handled == 0

    assert len(hook.requests) == 1
    payload = hook.requests[0].json
    assert payload["title"] == "[Strikes & unrest] Dock workers strike in Le Havre"
    assert "Link: https://news.example.com/a/1" in payload["message"]
    assert "Score: 0.877" in payload["message"]
    row = load_delivery(delivery_id)
    assert row.state == "sent"
    assert row.attempts == 1
    assert row.sent_at == now
    assert row.lease_until is None
    assert row.last_error is None


def test_alert_links_to_the_article_page_when_base_url_is_set(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    plain = make_settings({"hook": [hook.apprise_url("/alerts")]})
    settings = plain.model_copy(
        update={"web": plain.web.model_copy(update={"base_url": "https://m.example.org"})}
    )
    delivery_id = make_delivery()
    with session_factory() as session:
        article_id = outbox.outgoing_alert(session, delivery_id).article_id
    assert deliver_due(session_factory, settings).sent == 1
    message = hook.requests[0].json["message"]
    link_line = "Link: https://news.example.com/a/1\n"
    assert f"{link_line}Review: https://m.example.org/articles/{article_id}\n" in message


def test_failures_back_off_then_sent_exactly_once(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    """Case 27: 500, 429, connection dropped, timeout, then 200."""
    settings = make_settings(
        {"hook": [hook.apprise_url("/alerts")]}, backoff_base=30, backoff_max=3600, send_timeout=1.0
    )
    delivery_id = make_delivery()
    # The timeout step answers 503 *after* Apprise gave up: the provider
    # never accepted it, so "exactly once" is checkable at the receiver.
    hook.script(500, 429, "drop", Response(status=503, delay=2.0), 200)
    now = utcnow()
    expected_delays = [30, 60, 120, 240]
    for attempt, delay in enumerate(expected_delays, start=1):
        report = deliver_due(session_factory, settings, now=now)
        assert (report.sent, report.retried, report.dead) == (0, 1, 0), attempt
        row = load_delivery(delivery_id)
        assert row.state == "pending"
        assert row.attempts == attempt
        assert row.next_attempt_at == now + timedelta(seconds=delay)
        assert row.last_error
        # Not due before its backoff has passed.
        assert deliver_due(session_factory, settings, now=now + timedelta(seconds=delay - 1)).handled == 0
        now = now + timedelta(seconds=delay)

    errors = load_delivery(delivery_id).last_error or ""
    assert "TIMEOUT" in errors

    report = deliver_due(session_factory, settings, now=now)
    assert report.sent == 1
    row = load_delivery(delivery_id)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 5, now)
    hook.wait_idle()
    assert [r.status for r in hook.requests] == [500, 429, None, 503, 200]
    assert len(hook.delivered) == 1
    assert deliver_due(session_factory, settings, now=now + timedelta(days=1)).handled == 0
    assert len(hook.delivered) == 1


def test_connection_refused_then_delivered(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url("/alerts")]})
    delivery_id = make_delivery()
    hook.stop()
    now = utcnow()
    assert deliver_due(session_factory, settings, now=now).retried == 1
    assert "connection error" in (load_delivery(delivery_id).last_error or "").lower()
    hook.start()
    assert deliver_due(session_factory, settings, now=now + timedelta(seconds=30)).sent == 1
    assert len(hook.delivered) == 1


def test_smtp_down_then_restarted_delivers_once(
    session_factory: sessionmaker[Session],
    smtp: SmtpServer,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    settings = make_settings({"mail": [smtp.apprise_url(to="ops@example.com")]})
    delivery_id = make_delivery("mail")
    smtp.stop()
    now = utcnow()
    assert deliver_due(session_factory, settings, now=now).retried == 1
    row = load_delivery(delivery_id)
    assert (row.state, row.attempts) == ("pending", 1)
    smtp.start()  # same port
    assert deliver_due(session_factory, settings, now=now + timedelta(seconds=30)).sent == 1
    messages = smtp.wait_for(1)
    assert len(messages) == 1
    assert messages[0]["Subject"] == "[Strikes & unrest] Dock workers strike in Le Havre"
    assert deliver_due(session_factory, settings, now=now + timedelta(days=1)).handled == 0
    assert len(smtp.messages) == 1


def test_max_attempts_dead_with_one_notice_sent_once(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    with WebhookReceiver() as ops:
        settings = make_settings(
            {"hook": [hook.apprise_url("/alerts")], "ops": [ops.apprise_url("/ops")]},
            max_attempts=3,
            operator_channel="ops",
        )
        delivery_id = make_delivery()
        hook.default_status = 500
        now = utcnow()
        reports = []
        for _ in range(5):
            reports.append(deliver_due(session_factory, settings, now=now))
            now += timedelta(hours=2)
        assert [(r.retried, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
        assert len(hook.requests) == 3
        row = load_delivery(delivery_id)
        assert (row.state, row.attempts) == ("dead", 3)
        assert "500" in (row.last_error or "")

        notices = _notices(session_factory)
        assert [n.key for n in notices] == [f"delivery-dead:{delivery_id}"]
        assert notices[0].sent_at is not None
        assert reports[2].notices_sent == 1
        assert len(ops.delivered) == 1
        assert f"Delivery {delivery_id}" in ops.delivered[0].json["message"]

        # A retried dead delivery goes back to pending with 0 attempts.
        assert run_in_transaction(session_factory, lambda s: outbox.retry_dead(s, [delivery_id])) == 1
        assert run_in_transaction(session_factory, lambda s: outbox.retry_dead(s, [delivery_id])) == 0
        row = load_delivery(delivery_id)
        assert (row.state, row.attempts) == ("pending", 0)
        hook.default_status = 200
        assert deliver_due(session_factory, settings).sent == 1
        assert len(ops.delivered) == 1


def test_operator_channel_down_notice_retried_later(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    with WebhookReceiver(default_status=500) as ops:
        settings = make_settings(
            {"hook": [hook.apprise_url()], "ops": [ops.apprise_url()]},
            max_attempts=1,
            operator_channel="ops",
        )
        make_delivery()
        hook.default_status = 500
        report = deliver_due(session_factory, settings)
        assert (report.dead, report.notices_sent) == (1, 0)
        assert _notices(session_factory)[0].sent_at is None
        ops.default_status = 200
        assert deliver_due(session_factory, settings).notices_sent == 1
        assert deliver_due(session_factory, settings).notices_sent == 0
        assert len(ops.delivered) == 1


def test_removed_channel_goes_dead_with_clear_error(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]})
    delivery_id = make_delivery("old-channel")
    report = deliver_due(session_factory, settings)
    assert report.dead == 1
    row = load_delivery(delivery_id)
    assert row.state == "dead"
    assert row.attempts == 1
    assert "channel 'old-channel' is no longer in the configuration" in (row.last_error or "")
    assert len(_notices(session_factory)) == 1


@pytest.mark.parametrize(
    ("status", "expected_word"),
    [
        (apprise.AppriseResultStatus.FAILURE, "FAILURE"),
        (apprise.AppriseResultStatus.NOMATCH, "NOMATCH"),
        (apprise.AppriseResultStatus.PARTIAL, "PARTIAL"),
        (apprise.AppriseResultStatus.TIMEOUT, "TIMEOUT"),
    ],
)
def test_non_success_results_are_never_success(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    monkeypatch: pytest.MonkeyPatch,
    status: apprise.AppriseResultStatus,
    expected_word: str,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]})
    delivery_id = make_delivery()

    def fake_notify(self: apprise.Apprise, *args: object, **kwargs: object) -> apprise.AppriseResult:
        return apprise.AppriseResult(status=status)

    monkeypatch.setattr(apprise.Apprise, "notify", fake_notify)
    assert deliver_due(session_factory, settings).retried == 1
    row = load_delivery(delivery_id)
    assert row.state == "pending"
    assert expected_word in (row.last_error or "")


def test_unloadable_url_is_a_config_error_without_secret(
    session_factory: sessionmaker[Session],
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings({"hook": ["slack://TEAM01/SECRETBBBB"]})  # a token is missing
    delivery_id = make_delivery()
    caplog.set_level(logging.DEBUG)
    assert deliver_due(session_factory, settings).retried == 1
    error = load_delivery(delivery_id).last_error or ""
    assert "channel 'hook'" in error
    assert "not a valid Apprise URL" in error
    assert "slack://TEAM01/****" in error
    assert "SECRETBBBB" not in error
    assert "SECRETBBBB" not in caplog.text


def test_secrets_redacted_in_last_error_and_logs(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_path = "T0KEN-in-path-9f8e7d6c"
    url = f"json://user:Passw0rd-XYZ@127.0.0.1:{hook.port}/{secret_path}?token=QueryS3cret-42"
    settings = make_settings({"hook": [url]})
    delivery_id = make_delivery()
    hook.default_status = 500
    caplog.set_level(logging.DEBUG)  # Apprise logs full request URLs at DEBUG
    assert deliver_due(session_factory, settings).retried == 1
    hook.stop()
    assert deliver_due(session_factory, settings, now=utcnow() + timedelta(hours=1)).retried == 1

    row = load_delivery(delivery_id)
    texts = [row.last_error or "", caplog.text, *(r.getMessage() for r in caplog.records)]
    for text in texts:
        for secret in ("Passw0rd-XYZ", secret_path, "QueryS3cret-42"):
            assert secret not in text
    # Every send is logged with its dedupe key.
    assert f"delivery {delivery_id} {row.dedupe_key}: sending (attempt 1/" in caplog.text
    assert row.dedupe_key.endswith("/hook")


def test_abandoned_claim_is_reclaimed_with_duplicate_warning(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Case 28 (sender part): a sender died after claiming (and maybe sending)."""
    settings = make_settings({"hook": [hook.apprise_url()]}, lease=300)
    delivery_id = make_delivery()
    now = utcnow()
    with session_factory() as session, session.begin():  # what a dead sender leaves
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state="sending", attempts=1, lease_until=now + timedelta(seconds=300))
        )
    # While the lease holds, nobody touches it.
    assert deliver_due(session_factory, settings, now=now + timedelta(seconds=299)).handled == 0
    assert hook.requests == []
    caplog.set_level(logging.WARNING, logger="monitor.alerting.sender")
    report = deliver_due(session_factory, settings, now=now + timedelta(seconds=301))
    assert report.sent == 1
    row = load_delivery(delivery_id)
    assert (row.state, row.attempts) == ("sent", 2)
    dedupe_key = row.dedupe_key
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(dedupe_key in w and "duplicate" in w for w in warnings)
    assert len(hook.delivered) == 1


def test_claim_lost_to_another_sender_is_not_marked(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
    load_delivery: LoadDelivery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow sender whose lease expired and was reclaimed must not overwrite
    the new owner's row (the conditional mark sees the lease is not its own)."""
    settings = make_settings({"hook": [hook.apprise_url()]})
    delivery_id = make_delivery()
    real_notify = channels.notify

    def notify_then_lose(*args: object, **kwargs: object) -> channels.SendOutcome:
        outcome = real_notify(*args, **kwargs)  # type: ignore[arg-type]
        # Meanwhile the lease runs out and another sender claims the row.
        later = utcnow() + timedelta(seconds=settings.alerts.lease + 1)
        with session_factory() as session, session.begin():
            claim, _ = outbox.claim_next(session, outbox.DELIVERIES, now=later, lease=timedelta(minutes=5))
        assert claim is not None and claim.reclaimed_from is not None
        return outcome

    monkeypatch.setattr(channels, "notify", notify_then_lose)
    report = deliver_due(session_factory, settings)
    assert (report.sent, report.skipped) == (0, 1)
    row = load_delivery(delivery_id)
    assert (row.state, row.attempts) == ("sending", 2)


def _race(session_factory: sessionmaker[Session], settings: object, senders: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(senders)

    def run() -> None:
        try:
            barrier.wait()
            deliver_due(session_factory, settings, limit=1000)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_racing_senders_send_each_delivery_once(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]})
    ids = [make_delivery(title=f"Strike number {i}") for i in range(30)]
    assert _race(session_factory, settings, senders=4) == []
    titles = [r.json["title"] for r in hook.requests]
    assert len(titles) == 30
    assert len(set(titles)) == 30
    with session_factory() as session:
        states = session.execute(
            select(Delivery.state, func.count()).where(Delivery.id.in_(ids)).group_by(Delivery.state)
        ).all()
        assert dict(states) == {"sent": 30}
        assert set(session.scalars(select(Delivery.attempts))) == {1}


def test_only_ids_and_limit(
    session_factory: sessionmaker[Session],
    hook: WebhookReceiver,
    make_settings: MakeSettings,
    make_delivery: MakeDelivery,
) -> None:
    settings = make_settings({"hook": [hook.apprise_url()]})
    first, second, third = (make_delivery(title=f"t{i}") for i in range(3))
    report = deliver_due(session_factory, settings, only_ids=[second])
    assert (report.sent, report.ids) == (1, [second])
    report = deliver_due(session_factory, settings, limit=1)
    assert (report.sent, report.ids) == (1, [first])
    assert deliver_due(session_factory, settings).ids == [third]
