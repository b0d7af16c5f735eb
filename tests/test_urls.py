"""Credentials never shown: one URL (feed, database, notification), and URLs inside any text."""

from __future__ import annotations

from monitor.urls import redact_url, scrub_userinfo


def test_credentials_are_removed_and_the_rest_is_kept() -> None:
    assert redact_url("https://reader:s3cret@feeds.example/rss?x=1") == "https://feeds.example/rss?x=1"
    assert redact_url("https://token@feeds.example/rss") == "https://feeds.example/rss"
    assert redact_url("https://feeds.example/a@b") == "https://feeds.example/a@b"  # '@' in the path stays
    assert redact_url("postgresql://monitor:pw@db:5432/monitor") == "postgresql://db:5432/monitor"
    assert redact_url("http://[::1") == "http://[::1"  # unparseable: shown as text, not raised
    assert redact_url("no scheme u:p@host") == "no%20scheme%20u:p@host"


def test_control_characters_are_escaped_and_length_is_bounded() -> None:
    assert redact_url("https://feeds.example/a\nb c") == "https://feeds.example/a%0Ab%20c"
    long = "https://feeds.example/" + "p" * 400
    shown = redact_url(long)
    assert len(shown) == 300
    assert shown.endswith("…")
    assert redact_url(long, limit=40) == long[:39] + "…"


def test_scrub_userinfo_in_text() -> None:
    line = 'GET http://u:p@127.0.0.1:8/x "HTTP/1.1 500", then https://k@h.example/y'
    assert scrub_userinfo(line) == 'GET http://127.0.0.1:8/x "HTTP/1.1 500", then https://h.example/y'
    assert scrub_userinfo("write to desk@example.org") == "write to desk@example.org"
