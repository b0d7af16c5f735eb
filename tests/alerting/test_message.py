"""Rendering: hostile feed text must not ping, link, inject headers or overflow.

Reliability cases 7 (chat-markup injection, renderer side) and 8 (control
characters, CR/LF, bidi, ``javascript:`` links); 9 (alert body within limits).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.alerting.message import (
    DEFAULT_LIMITS,
    DISCORD_LIMITS,
    EMAIL_LIMITS,
    NO_LINK,
    SLACK_LIMITS,
    ZWJ,
    Limits,
    clean_text,
    cut,
    limits_for_urls,
    neutralize,
    render_alert,
    safe_link,
)

LIVE_TOKENS = ("<!channel", "<!here", "<!everyone", "<!subteam", "<@", "<#", "<http", "&lt;!", "](")


def _render(**overrides: object) -> tuple[str, str]:
    fields: dict[str, object] = {
        "topic_id": "strikes",
        "topic_name": "Strikes",
        "title": "Dock strike",
        "link": "https://news.example.com/a",
        "feed_name": "Example",
        "published_at": datetime(2026, 11, 21, 5, 30, tzinfo=UTC),
        "score": 0.91234,
        "evidence": {
            "reason": "keyword rule",
            "terms": ["strike", "dock"],
            "nearest_seed": {"file": "seeds/strikes.md", "passage": "Port workers walk out"},
            "model_version": "m-3",
        },
    }
    fields.update(overrides)
    rendered = render_alert(**fields)  # type: ignore[arg-type]
    return rendered.title, rendered.body


def test_plain_alert_layout() -> None:
    title, body = _render()
    assert title == "[Strikes] Dock strike"
    assert body == (
        "Topic: Strikes (strikes)\n"
        "Title: Dock strike\n"
        "Link: https://news.example.com/a\n"
        "Source: Example\n"
        "Published: 2026-11-21 05:30 UTC\n"
        "Score: 0.912\n"
        'Evidence: keyword rule; terms: strike, dock; nearest seed: seeds/strikes.md: "Port workers walk out"; '
        "model m-3"
    )


def test_missing_evidence_and_fields_are_tolerated() -> None:
    title, body = _render(
        topic_name=None, title="", link=None, feed_name=None, published_at=None, score=None, evidence=None
    )
    assert title == "[strikes] (untitled)"
    assert "Link: (no link)" in body
    assert "Source: unknown" in body
    assert "Published: unknown" in body
    assert "Score: unknown" in body
    assert body.endswith("Evidence: (none)")
    _, body = _render(evidence={"terms": "solo", "nearest_seed": "just a string", "extra": [1]})
    assert body.endswith("Evidence: terms: solo; nearest seed: just a string")
    _, body = _render(evidence={"nearest_seed": {"passage": None}}, model_version="m-9")
    assert body.endswith("Evidence: model m-9")


def test_published_time_is_shown_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    _, body = _render(published_at=datetime(2026, 1, 2, 10, 0, tzinfo=paris))
    assert "Published: 2026-01-02 09:00 UTC" in body


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel> URGENT <!here> <!everyone> @everyone @here",
        "<!subteam^S012345> <@U012345> <#C012345> [click](https://attacker.invalid)",
        "<https://attacker.invalid/login|Reset your password>",
        "&lt;!channel&gt; and &lt;https://evil.invalid|x&gt;",
        "< !channel> <\t@U1>",
        "@channel @all hi @alice",
    ],
)
def test_mentions_and_disguised_links_are_neutralised(hostile: str) -> None:
    title, body = _render(title=hostile, feed_name=hostile, evidence={"reason": hostile, "terms": [hostile]})
    for text in (title, body):
        visible = text.replace(ZWJ, "")
        assert visible.count("channel") == text.count("channel")  # still readable
        for token in LIVE_TOKENS:
            assert token not in text.replace(" ", "").replace("\t", ""), (token, text)
        # Every mention-like '@' is followed by a zero-width joiner.
        for index, char in enumerate(text):
            if char == "@" and index + 1 < len(text) and text[index + 1].isalnum():
                pytest.fail(f"live mention at {index}: {text!r}")


def test_email_addresses_are_left_alone() -> None:
    assert neutralize("write to press@example.com") == "write to press@example.com"
    assert neutralize("@everyone") == "@" + ZWJ + "everyone"


@pytest.mark.parametrize(
    "title",
    [
        "Line1\nLine2\r\nBcc: victim@example.com",
        "Feed match\r\nX-Injected: yes",
        "a\u2028b\u2029c\x85d\x0be\x0cf",
    ],
)
def test_title_is_one_line(title: str) -> None:
    rendered_title, body = _render(title=title)
    assert "\r" not in rendered_title and "\n" not in rendered_title
    for char in "\u2028\u2029\x85\x0b\x0c":
        assert char not in rendered_title and char not in body
    title_line = body.splitlines()[1]
    assert title_line.startswith("Title: ")
    assert len(body.splitlines()) == 7  # no field can add a line


def test_control_bidi_and_zero_width_characters_removed() -> None:
    hostile = "a\x00b\x1bc\x7fd\u202etxt.exe\u200b\u2066x\u2069\ufeff\u00adz\x9b"
    cleaned = clean_text(hostile)
    assert cleaned == "abcdtxt.exexz"
    title, body = _render(title=hostile, feed_name=hostile)
    for char in "\x00\x1b\x7f\u202e\u200b\u2066\u2069\ufeff\u00ad\x9b":
        assert char not in title and char not in body
    assert clean_text("keep\ttabs\nand lines", single_line=False) == "keep\ttabs\nand lines"


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "http://",
        "https://user:pw@bank.example.com@evil.invalid/",
        "https://bank.example.com@evil.invalid/",
        "http://exa mple.com/",
        "http:\\\\127.0.0.1\\x",
        "https://example.com/\x00",
        "https://xn--80ak6aa92e.com/ok-but-\u202eevil",
        "https://ехаmple.com/",  # Cyrillic look-alike host
        "//example.com/x",
        "",
        None,
        "https://example.com:99999/",
    ],
)
def test_non_http_links_are_never_sent_as_links(link: str | None) -> None:
    assert safe_link(link) is None
    _, body = _render(link=link)
    assert f"Link: {NO_LINK}" in body


def test_http_links_are_kept_and_markup_characters_encoded() -> None:
    assert safe_link("https://example.com/a?b=1&c=2#frag") == "https://example.com/a?b=1&c=2#frag"
    assert safe_link("HTTP://Example.com/x") == "http://Example.com/x"
    assert safe_link("https://example.com/<!channel>|x") == "https://example.com/%3C!channel%3E%7Cx"
    assert safe_link("https://example.com/@everyone") == "https://example.com/%40everyone"


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (["slack://T/B/C"], SLACK_LIMITS),
        (["discord://1/2"], DISCORD_LIMITS),
        (["mailto://host?to=a@b.c"], EMAIL_LIMITS),
        (["json://127.0.0.1/x"], DEFAULT_LIMITS),
        (["mailto://h", "discord://1/2"], DISCORD_LIMITS),
        (["SLACK://T/B/C", "mailtos://h"], SLACK_LIMITS),
    ],
)
def test_limits_by_schema(urls: list[str], expected: Limits) -> None:
    assert limits_for_urls(urls) == expected


def test_long_text_is_cut_to_each_channel_limit_keeping_the_link() -> None:
    huge = "word & <b> " * 5000
    link = "https://news.example.com/" + "p" * 100
    for limits in (SLACK_LIMITS, DISCORD_LIMITS, EMAIL_LIMITS, DEFAULT_LIMITS):
        title, body = _render(
            title=huge,
            feed_name=huge,
            link=link,
            evidence={"reason": huge, "terms": [huge] * 50},
            limits=limits,
        )
        if limits.slack_escaped:
            escaped = len(body) + 4 * body.count("&") + 3 * (body.count("<") + body.count(">"))
            assert escaped <= limits.body
            assert (
                len(title) + 4 * title.count("&") + 3 * (title.count("<") + title.count(">")) <= limits.title
            )
        else:
            assert len(body) <= limits.body
            assert len(title) <= limits.title
        assert f"Link: {link}" in body
        # Every line that carries a huge field shows that it was cut.
        cut_lines = [line for line in body.splitlines() if "word & <b>" in line]
        assert len(cut_lines) == 3  # the title, the feed, the evidence
        for line in cut_lines:
            assert re.search(r"…( \(\+\d+ more\))?$", line), line
        _, reviewed = _render(
            title=huge,
            evidence={"reason": huge},
            link=link,
            limits=limits,
            review_url="https://m.example/articles/7",
        )
        assert f"Link: {link}\nReview: https://m.example/articles/7\n" in reviewed
    # Discord: Apprise sends title + "\r\n" + body as one 2,000-character content.
    title, body = _render(title=huge, evidence={"reason": huge}, limits=DISCORD_LIMITS)
    assert len(title) + 2 + len(body) <= 2000


def test_cut_never_leaves_a_live_token() -> None:
    text = neutralize("xx <!channel> @everyone")
    for limit in range(1, len(text) + 2):
        piece = cut(text, limit)
        assert len(piece) <= max(limit, 1)
        assert "<!" not in piece and "@e" not in piece
