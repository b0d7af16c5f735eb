"""The poll stage on a real local feed server, on SQLite and PostgreSQL:
conditional GET, leases, backoff, 410 and Retry-After scheduling, poison feeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, load_config_text
from monitor.ingest.dispatch import due_feed_ids, reset_feed
from monitor.ingest.poll import MAX_POLL_ATTEMPTS, poll_feed, sync_feeds
from monitor.storage import Article, Feed, Notice, utcnow
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def settings_for(server: FeedServer, *paths: str) -> Settings:
    feeds = "\n".join(f"  - {{url: '{server.url(p)}', name: 'feed {p}'}}" for p in paths)
    return load_config_text(
        f"poll_interval: 60s\nfetch:\n  timeout: 5s\n  allow_hosts: ['{server.netloc}']\n  max_backoff: 1h\nfeeds:\n{feeds}\n"
    )


def feed_id(factory: sessionmaker[Session], url: str) -> int:
    with factory() as session:
        return session.scalars(select(Feed.id).where(Feed.url == url)).one()


def count_articles(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Article)) or 0)


def test_new_items_then_conditional_get_creates_nothing(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_file("/a.xml", rss([Item("g1", "First"), Item("g2", "Second")]))
    settings = settings_for(server, "/a.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/a.xml"))

    first = poll_feed(session_factory, settings, fid, owner="t1")
    assert first.status == "ok"
    assert len(first.new_article_ids) == 2

    second = poll_feed(session_factory, settings, fid, owner="t2", force=True)
    assert second.status == "not_modified"
    assert server.requests[-1].headers.get("if-none-match")
    assert count_articles(session_factory) == 2

    # A new item appears: only it is stored.
    server.set_content("/a.xml", rss([Item("g3", "Third"), Item("g1", "First"), Item("g2", "Second")]))
    third = poll_feed(session_factory, settings, fid, owner="t3", force=True)
    assert third.status == "ok"
    assert len(third.new_article_ids) == 1
    assert count_articles(session_factory) == 3
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
        assert feed.consecutive_errors == 0
        assert feed.lease_owner is None
        assert feed.poll_attempts == 0
        assert feed.next_check_at > utcnow() + timedelta(seconds=50)
        # Counted for /metrics, by outcome.
        assert (feed.polls_ok, feed.polls_not_modified, feed.polls_failed) == (2, 1, 0)


def test_feed_not_due_is_not_polled_again(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    server.add_file("/a.xml", rss([Item("g1", "First")]))
    settings = settings_for(server, "/a.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/a.xml"))
    assert due_feed_ids(session_factory) == [fid]
    assert poll_feed(session_factory, settings, fid, owner="t1").status == "ok"
    assert due_feed_ids(session_factory) == []
    assert poll_feed(session_factory, settings, fid, owner="t2").status == "skipped"
    assert server.hits("/a.xml") == 1


def test_lease_held_by_another_poll_makes_a_duplicate_a_no_op(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    """Reliability case 26: a doubled tick or redelivered poll does nothing twice."""
    server.add_file("/a.xml", rss([Item("g1", "First")]))
    settings = settings_for(server, "/a.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/a.xml"))
    with session_factory.begin() as session:
        feed = session.get_one(Feed, fid)
        feed.lease_owner = "task-A"
        feed.lease_until = utcnow() + timedelta(minutes=2)
        feed.poll_attempts = 1
    assert poll_feed(session_factory, settings, fid, owner="task-B").status == "skipped"
    assert server.hits() == 0
    # The same task redelivered (same owner) resumes the poll.
    resumed = poll_feed(session_factory, settings, fid, owner="task-A")
    assert resumed.status == "ok"
    assert server.hits() == 1


def test_retry_after_is_honoured(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    """Reliability case 18: no refetch before now + Retry-After; not a parse error."""
    server.add_response("/busy.xml", status=429, headers={"Retry-After": "120"})
    settings = settings_for(server, "/busy.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/busy.xml"))
    before = utcnow()
    outcome = poll_feed(session_factory, settings, fid, owner="t1")
    assert outcome.status == "error"
    assert outcome.next_check_at is not None
    assert outcome.next_check_at >= before + timedelta(seconds=120)
    assert due_feed_ids(session_factory, now=before + timedelta(seconds=90)) == []
    assert count_articles(session_factory) == 0


def test_errors_back_off_and_recover_by_themselves(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    """Reliability case 19 (404/HTML/empty): back off, never stop for good, recover."""
    good = rss([Item("g1", "Back again")])
    from tests.support.feed_server import route

    server.add_sequence(
        "/flaky.xml",
        [
            route(status=404),
            route(
                status=200,
                body=b"<html><body>not a feed</body></html>",
                headers={"Content-Type": "text/html"},
            ),
            route(status=200, body=b""),
            route(status=200, body=good),
        ],
    )
    settings = settings_for(server, "/flaky.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/flaky.xml"))
    waits = []
    for attempt in range(3):
        start = utcnow()
        outcome = poll_feed(session_factory, settings, fid, owner=f"t{attempt}", force=True)
        assert outcome.status == "error", outcome
        assert outcome.next_check_at is not None
        waits.append((outcome.next_check_at - start).total_seconds())
    assert waits[0] == pytest.approx(60, abs=2)
    assert waits[1] == pytest.approx(120, abs=2)
    assert waits[2] == pytest.approx(240, abs=2)
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
        assert feed.status == "active"
        assert feed.consecutive_errors == 3
        assert feed.last_error
    recovered = poll_feed(session_factory, settings, fid, owner="t9", force=True)
    assert recovered.status == "ok"
    assert len(recovered.new_article_ids) == 1
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
        assert feed.consecutive_errors == 0
        assert feed.last_error is None
        assert (feed.polls_ok, feed.polls_failed) == (1, 3)


def test_gone_feed_stops_with_one_notice(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    """Reliability case 19 (410): feed marked gone, polling stops, one notice, no entries."""
    server.add_response("/gone.xml", status=410, body=rss([Item("g1", "Should not be stored")]))
    settings = settings_for(server, "/gone.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/gone.xml"))
    assert poll_feed(session_factory, settings, fid, owner="t1").status == "gone"
    assert poll_feed(session_factory, settings, fid, owner="t2", force=True).status == "skipped"
    assert due_feed_ids(session_factory, now=utcnow() + timedelta(days=30)) == []
    assert count_articles(session_factory) == 0
    with session_factory() as session:
        notices = session.scalars(select(Notice)).all()
        assert [n.kind for n in notices] == ["feed_gone"]
    # After `monitor feeds reset`, a new 410 is announced again.
    assert reset_feed(session_factory, fid)
    with session_factory() as session:
        assert session.scalars(select(Notice)).all() == []
    assert poll_feed(session_factory, settings, fid, owner="t3").status == "gone"
    with session_factory() as session:
        assert [n.kind for n in session.scalars(select(Notice))] == ["feed_gone"]


def test_poison_feed_is_parked_not_looped(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    """Reliability case 23 (library half): polls that die leave the lease; past the
    limit the feed is parked with a clear error and one notice."""
    server.add_file("/p.xml", rss([Item("g1", "x")]))
    settings = settings_for(server, "/p.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/p.xml"))
    with session_factory.begin() as session:
        feed = session.get_one(Feed, fid)
        feed.poll_attempts = MAX_POLL_ATTEMPTS  # three polls took the lease and died
        feed.lease_owner = "dead-task"
        feed.lease_until = utcnow() - timedelta(seconds=1)
    outcome = poll_feed(session_factory, settings, fid, owner="t-next")
    assert outcome.status == "parked"
    assert server.hits() == 0
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
        assert feed.poll_attempts == 0
        assert feed.lease_owner is None
        assert "did not finish 3 times" in (feed.last_error or "")
        assert feed.next_check_at > utcnow() + timedelta(minutes=59)
        assert [n.kind for n in session.scalars(select(Notice))] == ["feed_failed"]


def test_feed_removed_from_config_is_no_longer_polled(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_file("/a.xml", rss([Item("g1", "x")]))
    server.add_file("/b.xml", rss([Item("g2", "y")]))
    sync_feeds(session_factory, settings_for(server, "/a.xml", "/b.xml"))
    assert len(due_feed_ids(session_factory)) == 2
    sync_feeds(session_factory, settings_for(server, "/b.xml"))
    assert due_feed_ids(session_factory) == [feed_id(session_factory, server.url("/b.xml"))]


def test_silent_feed_is_flagged_once(server: FeedServer, session_factory: sessionmaker[Session]) -> None:
    """A feed that answers but has had no new item for `silent_after` gets one notice."""
    server.add_file("/quiet.xml", rss([Item("g1", "Old news")]))
    settings = load_config_text(
        f"fetch:\n  allow_hosts: ['{server.netloc}']\n  silent_after: 1h\nfeeds:\n  - url: '{server.url('/quiet.xml')}'\n"
    )
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/quiet.xml"))
    start = utcnow()
    assert poll_feed(session_factory, settings, fid, owner="t1", now=start).status == "ok"
    assert (
        poll_feed(
            session_factory, settings, fid, owner="t2", now=start + timedelta(minutes=30), force=True
        ).status
        == "not_modified"
    )
    with session_factory() as session:
        assert session.scalars(select(Notice)).all() == []
    for minutes in (61, 62, 90):
        poll_feed(
            session_factory,
            settings,
            fid,
            owner=f"t{minutes}",
            now=start + timedelta(minutes=minutes),
            force=True,
        )
    with session_factory() as session:
        assert [n.kind for n in session.scalars(select(Notice))] == ["feed_silent"]


def test_oversized_validators_and_long_urls_do_not_break_polling(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    """PostgreSQL enforces column lengths that SQLite ignores: a 2 KB ETag or a
    400-character URL with no name must behave the same on both."""
    long_path = "/search.xml?q=" + "actors+strike+" * 28
    served = "/search.xml"  # the feed server matches paths without their query
    server.add_file(
        served, rss([Item("g1", "Strike news")]), headers={"ETag": '"' + "e" * 2000 + '"'}, etag=False
    )
    settings = load_config_text(
        f"fetch:\n  allow_hosts: ['{server.netloc}']\nfeeds:\n  - url: '{server.url(long_path)}'\n"
    )
    assert len(settings.feeds[0].url) > 300
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url(long_path))
    outcome = poll_feed(session_factory, settings, fid, owner="t1")
    assert outcome.status == "ok" and len(outcome.new_article_ids) == 1
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
        assert feed.etag is None
        assert len(feed.name) <= 300


def test_hostile_retry_after_is_capped_by_max_backoff(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_response("/busy.xml", status=503, headers={"Retry-After": "9" * 30})
    settings = settings_for(server, "/busy.xml")
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/busy.xml"))
    start = utcnow()
    outcome = poll_feed(session_factory, settings, fid, owner="t1", now=start)
    assert outcome.status == "error"
    assert outcome.next_check_at == start + timedelta(hours=1)  # the test config's max_backoff
    with session_factory() as session:
        assert session.get_one(Feed, fid).lease_owner is None


def test_feed_credentials_stay_out_of_logs_outcomes_and_names(
    server: FeedServer, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    server.add_response("/private.xml", status=500)
    url = f"http://reader:hunter2@{server.netloc}/private.xml"
    settings = load_config_text(f"fetch:\n  allow_hosts: ['{server.netloc}']\nfeeds:\n  - url: '{url}'\n")
    assert "hunter2" not in settings.feeds[0].display_name
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, url)
    with caplog.at_level("INFO"):
        outcome = poll_feed(session_factory, settings, fid, owner="t1")
    assert outcome.status == "error"
    assert server.requests[-1].headers.get("authorization", "").startswith("Basic ")  # still used to fetch
    assert "hunter2" not in f"{outcome.url} {outcome.name} {outcome.error} {outcome.describe()}"
    assert "hunter2" not in caplog.text


def test_a_feed_failing_n_polls_in_a_row_sends_one_notice_and_one_on_recovery(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    """fetch.failure_notice_after (3 here): the third failure in a row is
    announced once, later failures are not, the recovery is announced once;
    a second run of failures is announced again."""
    from tests.support.feed_server import route

    good = rss([Item("g1", "Back again")])
    server.add_sequence(
        "/shaky.xml",
        [route(status=500)] * 5 + [route(status=200, body=good)] + [route(status=503)] * 3,
    )
    settings = load_config_text(
        f"fetch:\n  timeout: 5s\n  allow_hosts: ['{server.netloc}']\n  failure_notice_after: 3\n"
        f"feeds:\n  - {{url: '{server.url('/shaky.xml')}', name: Shaky}}\n"
    )
    sync_feeds(session_factory, settings)
    fid = feed_id(session_factory, server.url("/shaky.xml"))

    def notices() -> list[tuple[str, str]]:
        with session_factory() as session:
            return [(n.kind, n.message) for n in session.scalars(select(Notice).order_by(Notice.id))]

    now = utcnow()
    kinds_after: list[list[str]] = []
    for attempt in range(9):
        outcome = poll_feed(
            session_factory,
            settings,
            fid,
            owner=f"p{attempt}",
            force=True,
            now=now + timedelta(minutes=attempt),
        )
        assert outcome.status == ("ok" if attempt == 5 else "error"), (attempt, outcome)
        kinds_after.append([kind for kind, _ in notices()])
    assert kinds_after[1] == []  # two failures: nothing yet
    assert kinds_after[2] == ["feed_failing"]  # the third: one notice
    assert kinds_after[4] == ["feed_failing"]  # the fourth and fifth add nothing
    assert kinds_after[5] == ["feed_failing", "feed_recovered"]
    assert kinds_after[8] == ["feed_failing", "feed_recovered", "feed_failing"]  # a new run of failures
    failing, recovered = notices()[0][1], notices()[1][1]
    assert "Shaky" in failing and "failed 3 polls in a row" in failing and "HTTP 500" in failing
    assert "recovered after 5 failed polls" in recovered
