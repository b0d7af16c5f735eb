"""Full text on a real local feed server: a teaser-only feed has its new
articles' pages fetched through the guarded fetcher, their main text
extracted, stored and read by the classifier (and said in the evidence);
private hosts, oversized pages and dead links cost only the body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, load_config_text
from monitor.ingest.fulltext import extract_main_text, is_teaser, teaser_feed
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.matching import build_matcher
from monitor.matching.stage import classify_pending
from monitor.storage import Article, Feed, Match
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss

BODY = (
    "The actors' union called a strike on Friday after talks with the studios broke down over pay "
    "and the use of artificial intelligence. Picket lines formed outside the major studios in Los "
    "Angeles and New York. The union said its members had voted to authorise the walkout in June."
)


def page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{sentence}.</p>" for sentence in body.split(". ") if sentence)
    return (
        "<!DOCTYPE html><html><head><title>" + title + "</title></head><body>"
        "<header><nav><a href='/'>Home</a> | <a href='/film'>Film</a> | <a href='/tv'>TV</a></nav></header>"
        "<main><article><h1>" + title + "</h1>" + paragraphs + "</article></main>"
        "<aside>Most read: ten things to watch this weekend. Subscribe to our newsletter.</aside>"
        "<footer>© 2026 The Trade Paper. All rights reserved. Privacy policy. Cookie settings.</footer>"
        "</body></html>"
    ).encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def config(server: FeedServer, feed_extra: str = "", extra: str = "") -> Settings:
    return load_config_text(
        f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}']}}\n{extra}"
        f"feeds:\n  - {{url: '{server.url('/f.xml')}', name: trade{feed_extra}}}\n"
        "topics:\n  - {id: strikes, name: Strikes, model: rules, rules: {all: [picket lines, walkout]}}\n"
    )


def poll(factory: sessionmaker[Session], settings: Settings) -> None:
    sync_feeds(factory, settings)
    with factory() as session:
        feed_id = session.scalars(select(Feed.id)).one()
    outcome = poll_feed(factory, settings, feed_id, owner="t", force=True)
    assert outcome.status in ("ok", "not_modified"), outcome.error


def stored(factory: sessionmaker[Session]) -> dict[str, tuple[str | None, str | None]]:
    with factory() as session:
        return {row.item_key: (row.body, row.body_note) for row in session.scalars(select(Article))}


def test_teaser_feed_pages_are_read_and_classified(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_response("/a1", body=page("Actors strike", BODY), headers={"Content-Type": "text/html"})
    server.add_file(
        "/f.xml",
        rss([Item("a1", "Actors strike", "The union called a strike…", link=server.url("/a1"))]),
    )
    settings = config(server)
    poll(session_factory, settings)
    body, note = stored(session_factory)["a1"]
    assert body is not None
    assert "Picket lines formed outside the major studios" in body
    assert "Subscribe to our newsletter" not in body and "Cookie settings" not in body
    assert note == f"full text: {len(body):,} characters from the article's page"
    assert server.requests[-1].headers["accept"].startswith("text/html")

    # The rule needs words only the page has: it matches, and says why.
    report = classify_pending(session_factory, settings, build_matcher(settings))
    assert [m.topic_id for m in report.matches] == ["strikes"]
    with session_factory() as session:
        evidence = session.scalars(select(Match.evidence)).one()
    assert evidence["full_text"] == note

    # A second poll fetches no page again (the article is known).
    pages = server.hits("/a1")
    server.set_content(
        "/f.xml",
        rss([Item("a1", "Actors strike", "The union called a strike…", link=server.url("/a1"))]) + b" ",
    )
    poll(session_factory, settings)
    assert server.hits("/a1") == pages


def test_without_full_text_the_teaser_alone_is_classified(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_response("/a1", body=page("Actors strike", BODY), headers={"Content-Type": "text/html"})
    server.add_file(
        "/f.xml", rss([Item("a1", "Actors strike", "The union called a strike…", link=server.url("/a1"))])
    )
    settings = config(server, feed_extra=", full_text: false")
    poll(session_factory, settings)
    assert server.hits("/a1") == 0
    assert stored(session_factory)["a1"] == (None, None)
    assert classify_pending(session_factory, settings, build_matcher(settings)).matches == []


def test_full_summaries_are_not_fetched_unless_asked(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_response("/a1", body=page("Actors strike", BODY), headers={"Content-Type": "text/html"})
    server.add_file("/f.xml", rss([Item("a1", "Actors strike", BODY, link=server.url("/a1"))]))
    poll(session_factory, config(server))
    assert server.hits("/a1") == 0
    server.add_file("/f.xml", rss([Item("a2", "Actors strike", BODY, link=server.url("/a1"))]))
    poll(session_factory, config(server, feed_extra=", full_text: true"))
    assert server.hits("/a1") == 1
    assert stored(session_factory)["a2"][0] is not None


def test_a_page_that_cannot_be_had_costs_only_its_body(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    with FeedServer(host="127.0.0.2") as probe:
        probe.add_response("/secret", body=b"internal")
        server.add_response(
            "/big",
            body=b"<html><body>" + b"x" * 300_000 + b"</body></html>",
            headers={"Content-Type": "text/html"},
        )
        server.add_response("/gone", status=404)
        server.add_file(
            "/f.xml",
            rss(
                [
                    Item("private", "One", "Short.", link=probe.url("/secret")),
                    Item("big", "Two", "Short.", link=server.url("/big")),
                    Item("dead", "Three", "Short.", link=server.url("/gone")),
                    Item("nolink", "Four", "Short."),
                ]
            ),
        )
        poll(session_factory, config(server, extra="full_text: {max_page_bytes: 100000}\n"))
        assert probe.hits() == 0
    rows = stored(session_factory)
    assert set(rows) == {"private", "big", "dead", "nolink"}
    assert rows["private"][0] is None
    assert "full text: page not fetched: private network host 127.0.0.2" in (rows["private"][1] or "")
    assert "response too large" in (rows["big"][1] or "")
    assert "HTTP 404" in (rows["dead"][1] or "")
    assert rows["nolink"] == (None, "full text: the item has no link")


def test_page_budget_per_poll(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    for i in range(3):
        server.add_response(f"/a{i}", body=page(f"T{i}", BODY), headers={"Content-Type": "text/html"})
    server.add_file(
        "/f.xml", rss([Item(f"a{i}", f"T{i}", "Short…", link=server.url(f"/a{i}")) for i in range(3)])
    )
    poll(session_factory, config(server, extra="full_text: {max_pages_per_poll: 2}\n"))
    notes = sorted(note or "" for _, note in stored(session_factory).values())
    assert sum(note.startswith("full text: ") and "characters" in note for note in notes) == 2
    assert "full text: not fetched, the poll's page budget ran out" in notes


def test_teaser_detection() -> None:
    assert is_teaser("The union called a strike…", 25)
    # One sentence is a teaser, however long.
    assert is_teaser(
        "The union called a strike on Friday after talks with the studios broke down over pay, "
        "residuals and the use of artificial intelligence in productions of every kind.",
        25,
    )
    assert is_teaser(BODY + " Read more", 25)
    assert is_teaser(BODY + " [...]", 25)
    assert not is_teaser(BODY, 25)
    from monitor.ingest.types import NormalizedArticle

    def article(summary: str) -> NormalizedArticle:
        return NormalizedArticle("k", "t", summary, None, None, None, "h")

    assert teaser_feed([article("Short."), article(BODY)], 25)
    assert not teaser_feed([article(BODY), article(BODY), article("Short.")], 25)
    assert not teaser_feed([], 25)


def test_hostile_pages_give_no_text_and_no_error() -> None:
    # lxml stops at its nesting limit: no main text, nothing raised.
    nested = b"<html><body>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000 + b"</body></html>"
    assert extract_main_text(nested, "http://127.0.0.1/x") is None
    assert extract_main_text(b"\x00\xff\xfe garbage", "http://127.0.0.1/x") is None
