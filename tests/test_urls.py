"""Credentials never shown: one URL, and URLs inside any text."""

from __future__ import annotations

from monitor.urls import scrub_userinfo, without_userinfo


def test_without_userinfo() -> None:
    assert without_userinfo("https://reader:s3cret@feeds.example/rss?x=1") == "https://feeds.example/rss?x=1"
    assert without_userinfo("https://token@feeds.example/rss") == "https://feeds.example/rss"
    assert (
        without_userinfo("https://feeds.example/a@b") == "https://feeds.example/a@b"
    )  # '@' in the path stays
    assert without_userinfo("http://[::1") == "http://[::1"  # unparseable: returned scrubbed, not raised


def test_scrub_userinfo_in_text() -> None:
    line = 'GET http://u:p@127.0.0.1:8/x "HTTP/1.1 500", then https://k@h.example/y'
    assert scrub_userinfo(line) == 'GET http://127.0.0.1:8/x "HTTP/1.1 500", then https://h.example/y'
    assert scrub_userinfo("write to desk@example.org") == "write to desk@example.org"
