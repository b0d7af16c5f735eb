"""Per-feed options on a real local feed server: headers, user agent and basic
auth (a secret from ${ENV}) reach the feed's host and only it; the config
refuses headers the fetcher owns; the embedded service polls each host with
at most ``max_per_host`` requests in flight."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import ConfigError, load_config_text
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.storage import Feed
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def other() -> Iterator[FeedServer]:
    with FeedServer(host="127.0.0.3") as srv:
        yield srv


def poll_only_feed(factory: sessionmaker[Session], config: str) -> str:
    settings = load_config_text(config)
    sync_feeds(factory, settings)
    with factory() as session:
        fid = session.scalars(select(Feed.id)).one()
    outcome = poll_feed(factory, settings, fid, owner="t", force=True)
    return outcome.status


def test_headers_user_agent_and_basic_auth_reach_the_feed(
    server: FeedServer, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_PASSWORD", "s3cret:pw")
    server.add_file("/f.xml", rss([Item("g1", "One")]))
    status = poll_only_feed(
        session_factory,
        f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}']}}\nfeeds:\n"
        f"  - url: '{server.url('/f.xml')}'\n"
        "    user_agent: 'Desk reader/2.0'\n"
        "    headers: {X-Api-Key: k-123, Cookie: 'session=abc'}\n"
        "    basic_auth: {username: desk, password: '${FEED_PASSWORD}'}\n",
    )
    assert status == "ok"
    headers = server.requests[-1].headers
    assert headers["user-agent"] == "Desk reader/2.0"
    assert headers["x-api-key"] == "k-123"
    assert headers["cookie"] == "session=abc"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"desk:s3cret:pw").decode()


def test_credentials_do_not_follow_a_redirect_to_another_host(
    server: FeedServer, other: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    other.add_file("/moved.xml", rss([Item("g1", "One")]))
    server.add_redirect("/f.xml", other.url("/moved.xml"))
    status = poll_only_feed(
        session_factory,
        f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}', '{other.netloc}']}}\nfeeds:\n"
        f"  - url: '{server.url('/f.xml')}'\n"
        "    user_agent: 'Desk reader/2.0'\n"
        "    headers: {X-Api-Key: k-123}\n"
        "    basic_auth: {username: desk, password: pw}\n",
    )
    assert status == "ok"
    assert "authorization" in server.requests[-1].headers
    moved = other.requests[-1].headers
    assert "authorization" not in moved
    assert "x-api-key" not in moved
    assert moved["user-agent"] == "Desk reader/2.0"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("headers: {Host: evil.example}", "header 'Host' is set by the fetcher"),
        ("headers: {If-None-Match: x}", "header 'If-None-Match' is set by the fetcher"),
        ("headers: {'Bad Name': x}", "header name 'Bad Name' is not a valid HTTP header name"),
        ('headers: {X-A: "one\\ntwo"}', "header 'X-A': line breaks and control characters are not allowed"),
        ("basic_auth: {password: x}", "feeds[0].basic_auth.username: Field required"),
        ("enabled: nope", "feeds[0].enabled: Input should be a valid boolean"),
    ],
)
def test_config_refuses_bad_feed_options(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f"feeds:\n  - url: 'https://a.example/rss'\n    {line}\n", "m.yaml")
    assert message in str(caught.value)
    assert "m.yaml:3:" in str(caught.value)


def test_embedded_service_polls_one_host_at_most_max_per_host_at_once(
    server: FeedServer, db_url: str, tmp_path: Path
) -> None:
    from monitor.runtime import Runtime
    from monitor.service import EmbeddedService

    in_flight = 0
    peak = 0
    lock = threading.Lock()
    original = server._next_route

    def counting(path: str):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.15)  # a slow host: requests overlap unless held back
        with lock:
            in_flight -= 1
        return original(path)

    server._next_route = counting  # type: ignore[method-assign]
    for i in range(8):
        server.add_file(f"/f{i}.xml", rss([Item(f"g{i}", f"Item {i}")]))
    feeds = "\n".join(f"  - {{url: '{server.url(f'/f{i}.xml')}', name: f{i}}}" for i in range(8))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database_url: '{db_url}'\npolling: {{max_per_host: 2}}\n"
        f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}']}}\nfeeds:\n{feeds}\n",
        encoding="utf-8",
    )
    runtime = Runtime(config)
    try:
        report = EmbeddedService(runtime).run_once()
    finally:
        runtime.close()
    assert [p.status for p in report.polls].count("ok") == 8
    assert peak == 2
