"""Channels: what Apprise really sends, result reading, and secret redaction.

* Case 7: the chat-mention attack feed (parsed by feedparser as ingest does)
  through render + Apprise to Slack; Slack's servers cannot be reached, so
  only the outgoing ``requests.request`` call (what apprise 2.2.0's Slack
  plugin uses) is replaced, and the exact JSON payload is asserted.
* Case 8 (email): the title with CR/LF reaches a real aiosmtpd server as a
  one-line Subject, with no injected header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import apprise
import feedparser
import pytest
import requests

from monitor.alerting import channels
from monitor.alerting.channels import check_channel, notify, redact_text
from monitor.alerting.message import render_alert
from monitor.config import ChannelConfig
from monitor.urls import redact_url
from tests.support import shared_path
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import Response, WebhookReceiver

SLACK_URL = "slack://T000A1/B000B2SECRET/XXXXsecretXXXXtoken"
ICON = "https://github.com/caronc/apprise/raw/master/apprise/assets/themes/default/apprise-info-72x72.png"
LIVE = ("<!channel", "<!here", "<!everyone", "<!subteam", "<@", "<#", "<http")


class _FakeResponse:
    def __init__(self, status: int = 200, content: bytes = b"ok") -> None:
        self.status_code = status
        self.content = content
        self.headers: dict[str, str] = {}
        self.text = content.decode()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Replace only the HTTP call: every outgoing request is recorded."""
    calls: list[dict[str, Any]] = []

    def fake_request(method: str, url: str, **kwargs: Any) -> _FakeResponse:
        calls.append({"method": method, "url": url, **kwargs})
        return _FakeResponse()

    def fake_post(url: str, **kwargs: Any) -> _FakeResponse:
        return fake_request("post", url, **kwargs)

    monkeypatch.setattr(requests, "request", fake_request)
    monkeypatch.setattr(requests, "post", fake_post)
    yield calls


def _injection_entries() -> tuple[str, list[Any]]:
    parsed = feedparser.parse(shared_path("peer", "attacks", "chat_mention_injection.xml").read_bytes())
    return parsed.feed.title, list(parsed.entries)


def _alert(entry: Any, feed_title: str, channel: ChannelConfig) -> tuple[str, str]:
    rendered = render_alert(
        topic_id="strikes",
        topic_name="Strikes & unrest",
        title=entry.get("title"),
        link=entry.get("link"),
        feed_name=feed_title,
        published_at=datetime(2026, 11, 21, 5, 0, tzinfo=UTC),
        score=0.9,
        evidence={"reason": entry.get("summary"), "terms": ["<!channel>"]},
        limits=channels.channel_limits(channel),
    )
    return rendered.title, rendered.body


def test_slack_payload_is_exact_and_has_no_live_markup(captured: list[dict[str, Any]]) -> None:
    channel = ChannelConfig(name="slack", urls=(SLACK_URL,))
    feed_title, entries = _injection_entries()
    assert (
        entries[0].title == "<!channel> URGENT <!here> <!everyone> @everyone @here"
    )  # feedparser unescaped it

    for entry in entries:
        title, body = _alert(entry, feed_title, channel)
        outcome = notify(channel, title, body, timeout=5)
        assert outcome.ok, outcome.detail

    assert len(captured) == len(entries)
    first = captured[0]
    assert first["method"] == "post"
    assert first["url"] == "https://hooks.slack.com/services/T000A1/B000B2SECRET/XXXXsecretXXXXtoken"
    z = "\u200d"
    assert json.loads(first["data"]) == {
        "mrkdwn": False,
        "attachments": [
            {
                "title": f"[Strikes &amp; unrest] &lt;{z}!channel&gt; URGENT &lt;{z}!here&gt; "
                f"&lt;{z}!everyone&gt; @{z}everyone @{z}here",
                "text": "Topic: Strikes &amp; unrest (strikes)\n"
                f"Title: &lt;{z}!channel&gt; URGENT &lt;{z}!here&gt; &lt;{z}!everyone&gt; @{z}everyone "
                f"@{z}here\n"
                "Link: http://127.0.0.1/a\n"
                "Source: Injection test feed\n"
                "Published: 2026-11-21 05:00 UTC\n"
                "Score: 0.900\n"
                f"Evidence: *bold* _it_ ~strike~ `code` &amp;lt;{z}!channel&amp;gt;; "
                f"terms: &lt;{z}!channel&gt;",
                "color": "#3AA3E3",
                "footer_icon": ICON,
                "footer": "Apprise",
                "ts": mock.ANY,
            }
        ],
        "icon_url": ICON,
    }

    for call in captured:
        payload = json.loads(call["data"])
        assert payload["mrkdwn"] is False
        attachment = payload["attachments"][0]
        for text in (attachment["title"], attachment["text"]):
            for token in LIVE:
                assert token not in text, (token, text)
            # Only Slack's own entities remain: no bare '<', '>' or '&'.
            assert "<" not in text and ">" not in text
            assert text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0
    second = json.loads(captured[1]["data"])["attachments"][0]["text"]
    assert "Link: (no link)" in second  # javascript:alert(1)
    assert "javascript:" not in second
    assert f"&lt;{z}@{z}U012345&gt;" in second
    assert f"[click]{z}(https://attacker.invalid)" in second


def test_slack_failure_status_is_not_success(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_request(method: str, url: str, **kwargs: Any) -> _FakeResponse:
        calls.append(url)
        return _FakeResponse(500, b"error")

    monkeypatch.setattr(requests, "request", fake_request)
    outcome = notify(ChannelConfig(name="slack", urls=(SLACK_URL,)), "t", "b", timeout=5)
    assert not outcome.ok
    assert "FAILURE" in outcome.detail and "500" in outcome.detail
    assert "SECRET" not in outcome.detail.upper().replace("****", "")
    assert len(calls) == 1  # Apprise retries stay 0: retries are ours


def test_email_subject_is_one_line_and_body_intact(smtp: SmtpServer) -> None:
    channel = ChannelConfig(name="mail", urls=(smtp.apprise_url(to="desk@example.org"),))
    feed_title, entries = _injection_entries()
    title, body = _alert(entries[2], feed_title, channel)  # Line1\nLine2\r\nSubject: injected-header
    outcome = notify(channel, title, body, timeout=10)
    assert outcome.ok, outcome.detail
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "[Strikes & unrest] Line1 Line2 Subject: injected-header"
    raw = smtp.envelopes[0][2].decode()
    headers = raw.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in raw else raw.split("\n\n", 1)[0]
    assert "injected-header" not in "".join(
        line for line in headers.splitlines() if not line.startswith(("Subject", " ", "\t"))
    )
    assert len(message.get_all("Subject") or []) == 1
    assert smtp.envelopes[0][1] == ["desk@example.org"]
    content = message.get_content()
    assert "Title: Line1 Line2 Subject: injected-header" in content
    assert "Link: http://127.0.0.1/c" in content
    assert "\u202e" not in content and "\u200b" not in content


def test_email_title_with_crlf_directly(smtp: SmtpServer) -> None:
    """Even unrendered text: Apprise 2.2.0 folds CR/LF in the Subject (regression)."""
    channel = ChannelConfig(name="mail", urls=(smtp.apprise_url(),))
    outcome = notify(channel, "Feed match\r\nBcc: victim@example.com\r\nX-Injected: yes", "body\n.\nmore", 10)
    assert outcome.ok
    (message,) = smtp.wait_for(1)
    assert "X-Injected" not in message
    assert message["Bcc"] is None
    assert smtp.envelopes[0][1] == ["ops@example.com"]
    assert message.get_content().replace("\r\n", "\n").startswith("body\n.\nmore")


def test_webhook_timeout_is_reported_as_ambiguous() -> None:
    with WebhookReceiver() as hook:
        hook.script(Response(status=200, delay=1.5))
        outcome = notify(ChannelConfig(name="hook", urls=(hook.apprise_url(),)), "t", "b", timeout=0.5)
        assert not outcome.ok
        assert "TIMEOUT" in outcome.detail and "may still receive" in outcome.detail
        hook.wait_idle()
        assert len(hook.delivered) == 1  # the documented at-least-once case


def test_partial_failure_of_a_two_url_channel_is_failure() -> None:
    with WebhookReceiver() as good, WebhookReceiver(default_status=500) as bad:
        channel = ChannelConfig(name="both", urls=(good.apprise_url(), bad.apprise_url()))
        outcome = notify(channel, "t", "b", timeout=5)
        assert not outcome.ok
        assert "500" in outcome.detail


def test_bad_url_is_a_config_error_naming_the_channel_not_the_secret() -> None:
    channel = ChannelConfig(name="alerts", urls=("bogus://hunter2-SECRET-0042/x", "slack://T1/onlyone"))
    outcome = notify(channel, "t", "b", timeout=5)
    assert not outcome.ok and outcome.config_error
    assert "channel 'alerts'" in outcome.detail
    assert "URL #1 (bogus://****/****)" in outcome.detail
    assert "URL #2 (slack://T1/****)" in outcome.detail
    assert "hunter2" not in outcome.detail and "onlyone" not in outcome.detail
    assert check_channel(channel) == [outcome.detail]


def test_nothing_is_sent_when_one_url_of_a_channel_is_bad() -> None:
    with WebhookReceiver() as hook:
        channel = ChannelConfig(name="mixed", urls=(hook.apprise_url(), "notaschema://x"))
        assert not notify(channel, "t", "b", timeout=5).ok
        assert hook.requests == []  # no duplicates to the good URL on every retry


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("slack://T000/B000/XXXX", "slack://T000/****/****"),
        ("mailto://user:pass@host.example.com", "mailto://host.example.com"),
        ("mailto://user:pass@host", "mailto://****"),
        (
            "json://hooks.example.com/path/abc?token=s3cr3t&method=POST",
            "json://hooks.example.com/****/****?token=****&method=POST",
        ),
        (
            "json://127.0.0.1:8080/x?+Authorization=Bearer%20xyz",
            "json://127.0.0.1:8080/****?Authorization=****",
        ),
        ("discord://123456789/abcdefTOKEN", "discord://****/****"),
        ("tgram://123456789:AAHbotTOKEN/12345", "tgram://****:****/****"),
        (
            "mailtos://me:p%40ss@smtp.example.com:587?from=a@example.com&to=b@example.com",
            "mailtos://smtp.example.com:587?from=a@example.com&to=b@example.com",
        ),
        ("https://hooks.slack.com/services/T1/B2/C3", "https://hooks.slack.com/****/****/****/****"),
        ("json://host.example.com/x#frag", "json://host.example.com/****#****"),
        ("no scheme at all", "<unparseable URL>"),
        ("", "<unparseable URL>"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url, tokens=True) == expected


def test_redact_text_hides_registered_secrets_and_urls() -> None:
    channels.register_secrets(["json://127.0.0.1:9/Webhook-Path-77?apikey=KEY-123456789"])
    text = "POST /Webhook-Path-77 failed; key KEY-123456789; see mailto://u:pw123456@mail.example.com"
    redacted = redact_text(text)
    assert "Webhook-Path-77" not in redacted
    assert "KEY-123456789" not in redacted
    assert "pw123456" not in redacted
    assert "mailto://mail.example.com" in redacted
    assert redact_text("sent to /hook and /alerts") == "sent to /hook and /alerts"


def test_apprise_logging_never_shows_secrets(
    caplog: pytest.LogCaptureFixture, captured: list[dict[str, Any]]
) -> None:
    """At INFO (and even DEBUG), Apprise's own records are scrubbed: it logs the
    full webhook URL at DEBUG and an unparseable URL verbatim at ERROR."""
    caplog.set_level(logging.DEBUG)
    secrets = ["B000B2SECRET", "XXXXsecretXXXXtoken", "zz-unparseable-SECRET-99", "Disc0rdTOKENvalue"]
    notify(ChannelConfig(name="slack", urls=(SLACK_URL,)), "t", "b", timeout=5)
    notify(ChannelConfig(name="bad", urls=("bogus://zz-unparseable-SECRET-99",)), "t", "b", timeout=5)
    notify(ChannelConfig(name="disc", urls=("discord://4242424242/Disc0rdTOKENvalue",)), "t", "b", 5)
    assert captured  # the requests were made
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in logged, secret


def test_apprise_result_object_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = ChannelConfig(name="hook", urls=("json://127.0.0.1:9/x",))
    for status in apprise.AppriseResultStatus:
        monkeypatch.setattr(
            apprise.Apprise,
            "notify",
            lambda self, *a, _s=status, **k: apprise.AppriseResult(status=_s),
        )
        outcome = notify(channel, "t", "b", timeout=5)
        assert outcome.ok is (status == apprise.AppriseResultStatus.SUCCESS), status
        if status == apprise.AppriseResultStatus.NOMATCH:
            assert outcome.config_error


def test_throttle_override_is_applied_per_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "REQUEST_INTERVAL_OVERRIDE", 0.0)
    channels.clear_cache()
    apobj = channels.get_apprise(
        ChannelConfig(name="mail", urls=("mailto://127.0.0.1:25?from=m@example.com&to=a@example.com",))
    )
    assert [service.request_rate_per_sec for service in apobj] == [0.0]
    monkeypatch.setattr(channels, "REQUEST_INTERVAL_OVERRIDE", None)
    channels.clear_cache()
    apobj = channels.get_apprise(
        ChannelConfig(name="mail", urls=("mailto://127.0.0.1:25?from=m@example.com&to=a@example.com",))
    )
    assert [service.request_rate_per_sec for service in apobj] == [5.5]  # Apprise's own default kept
