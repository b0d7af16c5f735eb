"""Normalisation of hostile entry text (reliability cases 7, 8 and 9, ingest half)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from monitor.ingest.normalize import (
    MAX_TITLE_CHARS,
    canonical_link,
    clean_text,
    content_hash,
    detect_language,
    html_to_text,
    item_key,
    normalize_item,
)
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import ParsedItem
from tests.conftest import shared_path

URL = "http://127.0.0.1/feed.xml"


def item(**fields: object) -> ParsedItem:
    values: dict[str, object] = {
        "guid": None,
        "link": None,
        "title": "",
        "summary_html": "",
        "published": None,
    }
    values.update(fields)
    return ParsedItem(**values)  # type: ignore[arg-type]


# --- canonical links ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("HTTP://Example.COM/Path?a=1#frag", "http://example.com/Path?a=1"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        (
            "https://news.example/a?utm_source=rss&utm_Medium=x&id=7&fbclid=abc&gclid=1&mc_cid=2&mc_eid=3&igshid=4&ref=tw",
            "https://news.example/a?id=7",
        ),
        ("https://news.example/a?UTM_CAMPAIGN=x", "https://news.example/a"),
        ("https://news.example/a?reference=1&refresh=2", "https://news.example/a?reference=1&refresh=2"),
        ("https://news.example/a?b=2&a=1&b=3", "https://news.example/a?b=2&a=1&b=3"),
        ("  https://example.com/with space  ", "https://example.com/with%20space"),
        ("https://user:pw@example.com/x", "https://example.com/x"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox", None),
        ("file:///etc/passwd", None),
        ("mailto:a@example.com", None),
        ("ftp://example.com/x", None),
        ("/relative/path", None),
        ("//example.com/x", None),
        ("http://", None),
        ("http://example.com:99999/", None),
        ("http://exa\x00mple.com/", None),
        ("http://example.com\\@evil.example/", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_link(link: str | None, expected: str | None) -> None:
    assert canonical_link(link) == expected


# --- text -------------------------------------------------------------------------------


def test_clean_text_removes_controls_bidi_and_zero_width() -> None:
    raw = "a\x00b\x1b[31mc\x07d\x7fe\x85f\x9fg\u202eh\u2066i\u2069j\u200bk\u200dl\ufeffm\ud800n\tand\nnew"
    assert clean_text(raw) == "ab[31mcde\nfghijklmn\tand\nnew"  # NEL (U+0085) is a line break
    assert clean_text("line1\r\nline2\rline3\u2028x") == "line1\nline2\nline3\nx"
    assert clean_text("café 日本語 emoji 🙂") == "café 日本語 emoji 🙂"


def test_clean_text_is_accepted_by_postgresql(postgres_url: str) -> None:
    """Case 8: NUL and lone surrogates are what PostgreSQL refuses; cleaned text of
    every code point below U+10000 round-trips."""
    everything = "".join(chr(c) for c in range(0x10000))
    cleaned = clean_text(everything)
    assert "\x00" not in cleaned
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.DataError):
            conn.execute("SELECT %s::text", ("a\x00b",))
        conn.rollback()
        (value,) = conn.execute("SELECT %s::text", (cleaned,)).fetchone()  # type: ignore[misc]
    assert value == cleaned


def test_html_to_text() -> None:
    assert html_to_text("<p>Hello&nbsp;<b>world</b></p><p>Second&amp;last</p>") == "Hello world Second&last"
    assert html_to_text("a<script>var x = '<p>no</p>';</script>b<style>p{}</style>c") == "abc"
    assert html_to_text("one<br>two<br/>three") == "one two three"
    assert html_to_text("  lots \n\n of\t\tspace  ") == "lots of space"
    assert html_to_text("&lt;!channel&gt; &amp;lt;b&amp;gt;") == "<!channel> &lt;b&gt;"
    # HTML maps &#0; to U+FFFD; the escape character itself is dropped.
    assert html_to_text("x &#0; y \x1b[2J z") == "x \ufffd y [2J z"
    assert html_to_text("<p>unclosed <b>tags <i>everywhere") == "unclosed tags everywhere"
    assert html_to_text("") == ""
    assert html_to_text("<p>" + "word " * 1000 + "</p>", max_chars=20) == "word word word word "[:20]


def test_html_to_text_survives_deep_nesting() -> None:
    """Case 9: 100,000 nested <div> cost a flat pass, no recursion."""
    html = "<div>" * 100_000 + "deep" + "</div>" * 100_000
    started = time.monotonic()
    assert html_to_text(html) == "deep"
    assert time.monotonic() - started < 10


# --- language -------------------------------------------------------------------------


def test_detect_language() -> None:
    french = "Le gouvernement a annoncé mardi une nouvelle réforme des retraites"
    english = "The government announced a new pension reform on Tuesday morning"
    assert detect_language(french, None) == "fr"
    assert detect_language(english, None) == "en"
    assert detect_language(english, "fr-FR") == "fr"  # the feed's word wins
    assert detect_language(english, "EN_us") == "en"
    assert detect_language("ok", None) is None  # too short to tell
    assert detect_language("12345 678 90 !!! ???", None) is None
    assert detect_language(english, "not a language!") == "en"


# --- keys and hashes ----------------------------------------------------------------


def test_item_key_and_content_hash() -> None:
    assert item_key("guid-1", "http://example.com/a", "t", "s") == "guid-1"
    assert item_key(None, "http://example.com/a", "t", "s") == "http://example.com/a"
    assert item_key("  ", None, "t", "s") == "sha256:" + content_hash("t", "s")
    long_guid = "x" * 600
    key = item_key(long_guid, None, "t", "s")
    assert key.startswith("guid-sha256:") and len(key) <= 512
    assert content_hash("a", "b") != content_hash("a\nb", "")  # the separator is part of the hash
    assert len(content_hash("t", "s")) == 64


def test_normalize_item_basic() -> None:
    published = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    article = normalize_item(
        item(
            guid="g1",
            link="HTTPS://News.Example/a?utm_source=rss#x",
            title="  Une  réforme\n des retraites  ",
            summary_html="<p>Le gouvernement a annoncé mardi une nouvelle réforme des retraites.</p>",
            published=published,
        ),
        feed_language=None,
    )
    assert article.item_key == "g1"
    assert article.title == "Une réforme des retraites"
    assert article.summary == "Le gouvernement a annoncé mardi une nouvelle réforme des retraites."
    assert article.link == "https://news.example/a"
    assert article.language == "fr"
    assert article.published_at == published
    assert article.content_hash == content_hash(article.title, article.summary)


def test_key_falls_back_to_link_then_hash() -> None:
    by_link = normalize_item(item(link="http://example.com/a?utm_source=x", title="t"), feed_language="en")
    assert by_link.item_key == "http://example.com/a"
    by_hash = normalize_item(
        item(link="javascript:alert(1)", title="t", summary_html="s"), feed_language="en"
    )
    assert by_hash.link is None and by_hash.item_key == "sha256:" + content_hash("t", "s")


def test_lengths_are_capped() -> None:
    article = normalize_item(
        item(title="T" * 5000, summary_html="<p>" + "s" * 50_000 + "</p>"), feed_language="en"
    )
    assert len(article.title) == MAX_TITLE_CHARS
    assert len(article.summary) == 2000
    short = normalize_item(item(title="t", summary_html="x" * 500), feed_language="en", max_summary_chars=100)
    assert len(short.summary) == 100


# --- the attack documents -------------------------------------------------------------


def test_chat_mention_injection_stays_plain_text() -> None:
    """Case 7 (ingest half): markup characters are kept as text for the alerting
    module to escape; the javascript: link is dropped; CR/LF, U+202E and U+200B
    are gone."""
    feed = parse_feed(shared_path("peer", "attacks", "chat_mention_injection.xml").read_bytes(), url=URL)
    first, second, third = (normalize_item(i, feed_language=feed.language) for i in feed.items)
    assert first.title == "<!channel> URGENT <!here> <!everyone> @everyone @here"
    assert "<!channel>" in first.summary  # &amp;lt;!channel&amp;gt; decoded twice: text, not a tag
    assert second.title.startswith("<!subteam^S012345> <@U012345> <#C012345>")
    assert second.link is None  # javascript:alert(1)
    assert "alert" not in second.summary and "<script" not in second.summary
    assert third.title == "Line1 Line2 Subject: injected-header"
    assert "\r" not in third.title and "\n" not in third.title
    assert "\u202e" not in third.summary and "\u200b" not in third.summary
    assert third.summary == "txt.exe zero-width"


def test_control_characters_are_removed() -> None:
    """Case 8: NUL, ESC, BEL and DEL (which feedparser returns verbatim) are removed."""
    feed = parse_feed(shared_path("peer", "attacks", "control_chars.xml").read_bytes(), url=URL)
    (article,) = (normalize_item(i, feed_language=feed.language) for i in feed.items)
    for text in (article.title, article.summary):
        assert not any(ch in text for ch in "\x00\x1b\x07\x7f\x85")
    assert article.title.startswith("NULhere ESC[31mred")
    assert article.link == "http://127.0.0.1/ctl"
