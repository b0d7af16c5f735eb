"""The guarded fetcher against real loopback servers (reliability cases 6, 10-20).

No mock of httpx: every test talks HTTP to ``FeedServer`` on 127.0.0.0/8.
SSRF tests run with the allow-list off (or naming only the feed server) and
prove refusal happens before any connect: ``connect_guard`` fails the test on a
connect outside 127/8 and the ``probe`` on 127.0.0.2 must count 0 hits.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.config import FetchSettings
from monitor.ingest import addresses, transport
from monitor.ingest.fetch import fetch_feed, is_public_address, parse_retry_after, size_in_words
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import FetchError, ParseError
from tests.conftest import shared_path
from tests.support.feed_server import FeedServer, route
from tests.support.network import ConnectGuard, ResolverStub

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test feed</title><link>http://example.com/</link>
<item><title>First</title><link>/a</link><guid>a-1</guid><description>Hello</description></item>
</channel></rss>
"""
REPO = Path(__file__).resolve().parents[2]


def fetch_error(url: str, settings: FetchSettings, **kwargs: str | None) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch_feed(url, etag=kwargs.get("etag"), last_modified=kwargs.get("last_modified"), settings=settings)
    return info.value


# --- the normal path -------------------------------------------------------------


def test_fetch_returns_body_headers_and_validators(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_file("/feed.xml", FEED)
    result = fetch_feed(feed_server.url("/feed.xml"), etag=None, last_modified=None, settings=settings)
    assert result.status == 200
    assert result.body == FEED
    assert result.url == feed_server.url("/feed.xml")
    assert result.etag and result.last_modified
    assert result.headers["content-type"].startswith("application/rss+xml")
    sent = feed_server.requests[-1].headers
    assert sent["user-agent"] == settings.user_agent
    assert "gzip" in sent["accept-encoding"]
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_conditional_get_gives_304_and_no_body(feed_server: FeedServer, settings: FetchSettings) -> None:
    """Case 20 (fetcher half), with feedparser's own http_status_304.xml."""
    document = shared_path("peer", "feedparser", "v6.0.14", "tests", "http", "http_status_304.xml")
    feed_server.add_file("/304.xml", document)
    first = fetch_feed(feed_server.url("/304.xml"), etag=None, last_modified=None, settings=settings)
    assert first.status == 200 and first.body == document.read_bytes()

    again = fetch_feed(
        feed_server.url("/304.xml"), etag=first.etag, last_modified=first.last_modified, settings=settings
    )
    assert again.status == 304 and again.not_modified and again.body == b""
    assert again.etag == first.etag and again.last_modified == first.last_modified
    sent = feed_server.requests[-1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified

    by_date = fetch_feed(
        feed_server.url("/304.xml"), etag=None, last_modified=first.last_modified, settings=settings
    )
    assert by_date.status == 304

    feed_server.set_content("/304.xml", FEED)  # the feed changed: a full answer again
    changed = fetch_feed(
        feed_server.url("/304.xml"), etag=first.etag, last_modified=first.last_modified, settings=settings
    )
    assert changed.status == 200 and changed.body == FEED and changed.etag != first.etag


def test_hostile_validators_are_not_sent(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_file("/feed.xml", FEED)
    result = fetch_feed(
        feed_server.url("/feed.xml"), etag='"x"\r\nX-Injected: 1', last_modified=None, settings=settings
    )
    assert result.status == 200
    assert "x-injected" not in feed_server.requests[-1].headers


@pytest.mark.parametrize(
    ("name", "encoding"),
    [("gzip.gz", "gzip"), ("deflate.z", "deflate"), ("deflate-no-headers.z", "deflate")],
)
def test_compressed_bodies_are_decoded(
    feed_server: FeedServer, settings: FetchSettings, name: str, encoding: str
) -> None:
    document = shared_path("peer", "feedparser", "v6.0.14", "tests", "compression", name)
    feed_server.add_response("/c", body=document.read_bytes(), headers={"Content-Encoding": encoding})
    result = fetch_feed(feed_server.url("/c"), etag=None, last_modified=None, settings=settings)
    assert result.body.strip() == b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>'
    parsed = parse_feed(result.body, url=result.url, content_type=result.headers.get("content-type"))
    assert parsed.items == ()  # an (empty) Atom feed, not "not_a_feed"


def test_body_claiming_gzip_but_plain_is_passed_through(
    feed_server: FeedServer, settings: FetchSettings
) -> None:
    document = shared_path("peer", "feedparser", "v6.0.14", "tests", "compression", "gzip-not-compressed.gz")
    feed_server.add_response("/c", body=document.read_bytes(), headers={"Content-Encoding": "gzip"})
    result = fetch_feed(feed_server.url("/c"), etag=None, last_modified=None, settings=settings)
    assert result.body == document.read_bytes()


def test_gzip_on_the_fly_and_chunked(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_response("/g", body=FEED * 50, gzip=True, content_length=False)
    result = fetch_feed(feed_server.url("/g"), etag=None, last_modified=None, settings=settings)
    assert result.body == FEED * 50


# --- case 10, 11: deadlines ---------------------------------------------------------


def test_server_that_never_answers_times_out_at_the_deadline(feed_server: FeedServer) -> None:
    """Case 10: the fetch fails at the total deadline +-1 s, and another fetch
    completes meanwhile (the caller's slot is not stuck)."""
    feed_server.add_response("/hang", hang=120)
    feed_server.add_file("/ok.xml", FEED)
    settings = FetchSettings(timeout=2, allow_hosts=(feed_server.netloc,))
    other: list[int] = []

    def fetch_other() -> None:
        time.sleep(0.3)
        other.append(
            fetch_feed(feed_server.url("/ok.xml"), etag=None, last_modified=None, settings=settings).status
        )

    thread = threading.Thread(target=fetch_other)
    thread.start()
    started = time.monotonic()
    error = fetch_error(feed_server.url("/hang"), settings)
    elapsed = time.monotonic() - started
    thread.join(10)
    assert error.kind == "timeout"
    assert "/hang" in str(error) and "2s" in str(error)
    assert 1.0 <= elapsed <= 3.0, elapsed
    assert other == [200]


def test_slow_drip_is_aborted_at_the_total_deadline(feed_server: FeedServer) -> None:
    """Case 11: 1 byte/s for 60 s; per-read timeouts alone would never fire."""
    feed_server.add_response("/drip", body=FEED[:60], drip_rate=1.0)
    settings = FetchSettings(timeout=3, allow_hosts=(feed_server.netloc,))
    started = time.monotonic()
    error = fetch_error(feed_server.url("/drip"), settings)
    elapsed = time.monotonic() - started
    assert error.kind == "timeout"
    assert 2.0 <= elapsed <= 4.0, elapsed


def test_slow_redirect_chain_shares_one_deadline(feed_server: FeedServer) -> None:
    for i in range(4):
        feed_server.add_sequence(
            f"/slow/{i}", [route(302, headers={"Location": f"/slow/{i + 1}"}, delay=0.8)]
        )
    feed_server.add_file("/slow/4", FEED)
    settings = FetchSettings(timeout=2, allow_hosts=(feed_server.netloc,))
    started = time.monotonic()
    error = fetch_error(feed_server.url("/slow/0"), settings)
    assert error.kind == "timeout"
    assert time.monotonic() - started <= 3.0


# --- case 12: size caps -------------------------------------------------------------


def test_endless_body_stops_at_the_cap(feed_server: FeedServer) -> None:
    feed_server.add_response("/endless", endless=True)
    settings = FetchSettings(timeout=10, max_bytes=2 * 1024 * 1024, allow_hosts=(feed_server.netloc,))
    error = fetch_error(feed_server.url("/endless"), settings)
    assert error.kind == "too_large"
    assert f"sent more than {2 * 1024 * 1024} bytes (2 MiB, fetch.max_bytes)" in str(error)


def test_a_small_cap_is_said_in_its_own_unit(feed_server: FeedServer) -> None:
    feed_server.add_response("/endless", endless=True)
    settings = FetchSettings(timeout=10, max_bytes=20 * 1024, allow_hosts=(feed_server.netloc,))
    error = fetch_error(feed_server.url("/endless"), settings)
    assert f"sent more than {20 * 1024} bytes (20 KiB, fetch.max_bytes)" in str(error)


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (1, "1 byte"),
        (512, "512 bytes"),
        (1536, "1.5 KiB"),
        (15 * 1024 * 1024, "15 MiB"),
        (3 * 1024**3, "3 GiB"),
    ],
)
def test_size_in_words(size: int, words: str) -> None:
    assert size_in_words(size) == words


def test_large_plain_feed_is_refused(feed_server: FeedServer) -> None:
    big = FEED + b" " * (20 * 1024 * 1024)
    feed_server.add_response("/big", body=big)  # Content-Length announces 20 MB
    feed_server.add_response("/big-chunked", body=big, content_length=False)
    settings = FetchSettings(timeout=10, allow_hosts=(feed_server.netloc,))
    assert fetch_error(feed_server.url("/big"), settings).kind == "too_large"
    assert fetch_error(feed_server.url("/big-chunked"), settings).kind == "too_large"


_BOMB_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from monitor.config import FetchSettings
    from monitor.ingest.fetch import fetch_feed
    from monitor.ingest.types import FetchError
    netloc, url, warm = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = FetchSettings(timeout=20, allow_hosts=(netloc,))
    fetch_feed(warm, etag=None, last_modified=None, settings=settings)  # imports, TLS context
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        fetch_feed(url, etag=None, last_modified=None, settings=settings)
        kind = None
    except FetchError as exc:
        kind = exc.kind
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "growth_kib": after - before, "cap": settings.max_bytes}))
    """
)


def test_gzip_bomb_stops_at_the_decoded_cap_with_bounded_memory(feed_server: FeedServer) -> None:
    """Case 12: 1 MB of gzip inflating to 1 GiB, served with Content-Encoding: gzip.

    Measured in a child process: its peak RSS may grow by less than 2x the cap.
    """
    bomb = shared_path("peer", "attacks", "gzip_bomb_1GiB.xml.gz").read_bytes()
    feed_server.add_response("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})
    feed_server.add_file("/warm.xml", FEED)
    started = time.monotonic()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _BOMB_CHILD,
            feed_server.netloc,
            feed_server.url("/bomb"),
            feed_server.url("/warm.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    print(f"gzip bomb: {outcome}, {time.monotonic() - started:.2f}s")
    assert outcome["kind"] == "too_large"
    assert outcome["growth_kib"] * 1024 < 2 * outcome["cap"]


# --- case 13, 14: SSRF --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/feed.xml",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "https://user:secret@10.1.2.3/feed",
    ],
)
def test_literal_private_addresses_are_refused_before_connecting(
    url: str, feed_server: FeedServer, probe: FeedServer, connect_guard: ConnectGuard
) -> None:
    """Case 13, allow-list off."""
    feed_server.add_file("/feed.xml", FEED)
    error = fetch_error(url.format(port=feed_server.port), FetchSettings(timeout=3))
    assert error.kind == "blocked"
    assert str(error).startswith("private network host")
    assert "secret" not in str(error)
    assert connect_guard.attempts == []
    assert feed_server.hits() == 0


def test_allow_list_and_allow_private_networks_relax_the_guard(feed_server: FeedServer) -> None:
    feed_server.add_file("/feed.xml", FEED)
    url = feed_server.url("/feed.xml")
    for settings in (
        FetchSettings(timeout=3, allow_hosts=(feed_server.netloc,)),
        FetchSettings(timeout=3, allow_hosts=("127.0.0.1",)),
        FetchSettings(timeout=3, allow_private_networks=True),
    ):
        assert fetch_feed(url, etag=None, last_modified=None, settings=settings).status == 200
    other_port = FetchSettings(timeout=3, allow_hosts=(f"127.0.0.1:{feed_server.port + 1}",))
    assert fetch_error(url, other_port).kind == "blocked"


def test_public_address_classification() -> None:
    public = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    private = [
        "127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1",
        "100.127.255.254", "0.0.0.0", "224.0.0.251", "255.255.255.255", "192.0.0.1", "198.18.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fec0::1", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
        "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1",
    ]  # fmt: skip
    for address in public:
        assert is_public_address(ipaddress.ip_address(address)), address
    for address in private:
        assert not is_public_address(ipaddress.ip_address(address)), address


def test_hostname_resolving_to_metadata_is_refused(
    resolver: ResolverStub, probe: FeedServer, connect_guard: ConnectGuard
) -> None:
    """Case 14: the check runs on the resolved address; no connect is attempted."""
    resolver.add("metadata.test", "169.254.169.254")
    error = fetch_error("http://metadata.test/latest/meta-data/", FetchSettings(timeout=3))
    assert error.kind == "blocked"
    assert "169.254.169.254" in str(error) and "metadata.test" in str(error)
    assert connect_guard.attempts == []


def test_hostname_with_any_private_record_is_refused(
    resolver: ResolverStub, monkeypatch: pytest.MonkeyPatch, connect_guard: ConnectGuard
) -> None:
    """Case 14: dual.test has a 'public' record (203.0.113.10, treated as public
    for this test only) and 127.0.0.1: refused, nothing connected."""
    monkeypatch.setattr(addresses, "EXTRA_PUBLIC_NETWORKS", (ipaddress.ip_network("203.0.113.0/24"),))
    assert is_public_address(ipaddress.ip_address("203.0.113.10"))
    resolver.add("dual.test", "203.0.113.10", "127.0.0.1")
    error = fetch_error("http://dual.test/feed", FetchSettings(timeout=3))
    assert error.kind == "blocked" and "127.0.0.1" in str(error)
    assert connect_guard.attempts == []


def test_allowed_hostname_connects_to_the_resolved_address(
    feed_server: FeedServer, resolver: ResolverStub
) -> None:
    """The positive control of the resolver stub: a name allow-listed on purpose."""
    resolver.add("feeds.test", "127.0.0.1")
    feed_server.add_file("/feed.xml", FEED)
    settings = FetchSettings(timeout=3, allow_hosts=(f"feeds.test:{feed_server.port}",))
    result = fetch_feed(
        f"http://feeds.test:{feed_server.port}/feed.xml", etag=None, last_modified=None, settings=settings
    )
    assert result.body == FEED
    assert feed_server.requests[-1].headers["host"] == f"feeds.test:{feed_server.port}"


def test_unresolvable_name_is_a_connection_error(resolver: ResolverStub) -> None:
    error = fetch_error("http://nowhere.invalid/feed", FetchSettings(timeout=3))
    assert error.kind == "connection"
    assert "nowhere.invalid" in str(error)


# --- case 15, 16, 17: redirects -------------------------------------------------


def test_redirect_to_an_internal_host_is_refused_at_the_hop(
    feed_server: FeedServer, probe: FeedServer, settings: FetchSettings
) -> None:
    """Case 15: the allow-listed server redirects to the probe (127.0.0.2)."""
    feed_server.add_redirect("/r", probe.url("/"))
    error = fetch_error(feed_server.url("/r"), settings)
    assert error.kind == "blocked"
    assert probe.url("/") in str(error)  # names the redirect target
    assert probe.hits() == 0


def test_redirect_to_a_file_url_is_refused(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_redirect("/r", "file:///etc/passwd")
    error = fetch_error(feed_server.url("/r"), settings)
    assert error.kind == "unsupported_url"
    assert "file:" in str(error) and "/etc/passwd" in str(error)


def test_redirect_to_a_private_hostname_is_refused_at_connect(
    feed_server: FeedServer, probe: FeedServer, resolver: ResolverStub, settings: FetchSettings
) -> None:
    resolver.add("internal.test", "127.0.0.2")
    feed_server.add_redirect("/r", f"http://internal.test:{probe.port}/")
    error = fetch_error(feed_server.url("/r"), settings)
    assert error.kind == "blocked"
    assert "internal.test" in str(error) and "redirected from" in str(error)
    assert probe.hits() == 0


def test_dns_rebinding_is_caught_at_connect_time(feed_server: FeedServer, resolver: ResolverStub) -> None:
    """Case 16: rebind.test answers the allow-listed address first, then the
    probe's. The address connected to is the address checked, and a fetch
    resolves once, so there is no check-then-resolve-again window."""
    feed_server.add_file("/feed.xml", FEED)
    with FeedServer(host="127.0.0.2", port=feed_server.port) as probe:
        probe.add_file("/feed.xml", b"<rss><channel><title>internal</title></channel></rss>")
        resolver.add_sequence("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
        settings = FetchSettings(timeout=3, allow_hosts=(f"127.0.0.1:{feed_server.port}",))
        url = f"http://rebind.test:{feed_server.port}/feed.xml"
        assert fetch_feed(url, etag=None, last_modified=None, settings=settings).body == FEED
        error = fetch_error(url, settings)
        assert error.kind == "blocked" and "127.0.0.2" in str(error)
        assert probe.hits() == 0
        assert resolver.lookups == ["rebind.test", "rebind.test"]


def test_redirect_loop_and_long_chain_stop_after_max_redirects(
    feed_server: FeedServer, settings: FetchSettings
) -> None:
    """Case 17: at most 10 hops, at most 11 requests, 'too many redirects'."""
    feed_server.add_redirect("/loop", "/loop")
    error = fetch_error(feed_server.url("/loop"), settings)
    assert error.kind == "too_many_redirects"
    assert "too many redirects" in str(error) and "10" in str(error)
    assert feed_server.hits("/loop") <= 11

    feed_server.clear_log()
    feed_server.add_redirect_chain("/chain", 30, final=FEED)
    error = fetch_error(feed_server.url("/chain/0"), settings)
    assert error.kind == "too_many_redirects"
    assert feed_server.hits() <= 11


def test_short_redirect_chain_is_followed(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_redirect_chain("/chain", 3, final=FEED)
    feed_server.add_redirect("/moved", "/chain/0", status=301)
    result = fetch_feed(feed_server.url("/moved"), etag=None, last_modified=None, settings=settings)
    assert result.body == FEED
    assert result.url == feed_server.url("/chain/3")
    strict = FetchSettings(timeout=3, max_redirects=2, allow_hosts=(feed_server.netloc,))
    assert fetch_error(feed_server.url("/chain/0"), strict).kind == "too_many_redirects"


def test_redirect_without_location(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_response("/r", status=302)
    error = fetch_error(feed_server.url("/r"), settings)
    assert error.kind == "http_status" and error.status == 302


# --- case 18, 19: statuses --------------------------------------------------------


def test_429_with_retry_after_seconds(feed_server: FeedServer, settings: FetchSettings) -> None:
    """Case 18 (fetcher half): the scheduling belongs to poll.py."""
    feed_server.add_response("/429", status=429, headers={"Retry-After": "120"}, body=b"slow down")
    error = fetch_error(feed_server.url("/429"), settings)
    assert (error.kind, error.status, error.retry_after) == ("http_status", 429, 120.0)
    assert "429" in str(error)


def test_503_with_retry_after_date_and_without(feed_server: FeedServer, settings: FetchSettings) -> None:
    when = datetime.now(UTC) + timedelta(seconds=300)
    feed_server.add_response("/503", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    error = fetch_error(feed_server.url("/503"), settings)
    assert error.kind == "http_status" and error.status == 503
    assert error.retry_after is not None and 290 <= error.retry_after <= 301
    feed_server.add_response("/503b", status=503, body=b"<html>down</html>")
    error = fetch_error(feed_server.url("/503b"), settings)
    assert error.status == 503 and error.retry_after is None


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Sat, 21 Nov 2026 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    for bad in (None, "", "soon", "-5", "1.5e9x", "²"):
        assert parse_retry_after(bad, now=now) is None
    # Hostile values are capped at a year, never an overflow later on.
    assert parse_retry_after("9" * 30, now=now) == 365 * 86400
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == 365 * 86400


def test_410_is_gone_even_with_a_feed_body(feed_server: FeedServer, settings: FetchSettings) -> None:
    """Case 19 (fetcher half): feedparser would parse this body; we never return it."""
    feed_server.add_response("/gone", status=410, body=FEED, headers={"Content-Type": "application/rss+xml"})
    error = fetch_error(feed_server.url("/gone"), settings)
    assert (error.kind, error.status) == ("gone", 410)
    assert "410" in str(error) and feed_server.url("/gone") in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502])
def test_other_error_statuses(feed_server: FeedServer, settings: FetchSettings, status: int) -> None:
    feed_server.add_response("/e", status=status, body=FEED)
    error = fetch_error(feed_server.url("/e"), settings)
    assert (error.kind, error.status, error.retry_after) == ("http_status", status, None)
    assert str(status) in str(error)


def test_empty_body_and_html_page(feed_server: FeedServer, settings: FetchSettings) -> None:
    """Case 19: an empty 200 is an 'empty' fetch error; an HTML page fetches
    fine and is refused by the parser as not a feed."""
    feed_server.add_response("/empty", status=200, body=b"")
    assert fetch_error(feed_server.url("/empty"), settings).kind == "empty"
    feed_server.add_response("/blank", status=200, body=b"  \n")
    assert fetch_error(feed_server.url("/blank"), settings).kind == "empty"
    html = b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    feed_server.add_response("/page", body=html, headers={"Content-Type": "text/html; charset=utf-8"})
    result = fetch_feed(feed_server.url("/page"), etag=None, last_modified=None, settings=settings)
    with pytest.raises(ParseError) as info:
        parse_feed(result.body, url=result.url, content_type=result.headers.get("content-type"))
    assert info.value.kind == "not_a_feed"


def test_connection_refused(settings: FetchSettings) -> None:
    server = FeedServer().start()
    port = server.port
    server.stop()
    error = fetch_error(
        f"http://127.0.0.1:{port}/feed", FetchSettings(timeout=3, allow_hosts=(f"127.0.0.1:{port}",))
    )
    assert error.kind == "connection"
    assert f"127.0.0.1:{port}" in str(error)


# --- case 6: URLs that are not feeds ----------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "feed:///x",
        "feed://example.com/rss",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/1",
        "http:\\\\127.0.0.1\\feed",
        "http://127.0.0.1\\@example.com/",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
        "",
        "http://",
        "http://exa mple.com/",
    ],
)
def test_unsupported_urls_are_refused_without_connecting(url: str, connect_guard: ConnectGuard) -> None:
    error = fetch_error(url, FetchSettings(timeout=3))
    assert error.kind == "unsupported_url", (url, error.kind, str(error))
    assert str(error).startswith("unsupported URL")
    assert connect_guard.attempts == []


def test_messages_never_show_credentials(feed_server: FeedServer, settings: FetchSettings) -> None:
    feed_server.add_response("/private", status=404)
    url = f"http://reader:s3cret-token@{feed_server.netloc}/private"
    error = fetch_error(url, settings)
    assert error.kind == "http_status"
    assert "s3cret" not in str(error) and feed_server.netloc in str(error)
    assert feed_server.requests[-1].headers["authorization"].startswith("Basic ")


def test_dns_that_never_answers_is_bounded_by_the_deadline(resolver: ResolverStub) -> None:
    resolver.add_hang("slowdns.test", 10)
    started = time.monotonic()
    error = fetch_error("http://slowdns.test/feed", FetchSettings(timeout=1.5))
    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.5


# --- TLS: connect to the checked address, verify and send SNI for the name ---------


@pytest.fixture
def tls_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ssl.SSLContext, list[str | None]]:
    """A server context for a self-signed ``feeds.test`` certificate, which the
    fetcher is made to trust, and the SNI names the server receives."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=feeds.test", "-addext", "subjectAltName=DNS:feeds.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    names: list[str | None] = []

    def record(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    server.sni_callback = record
    monkeypatch.setattr(transport, "_ssl_context", ssl.create_default_context(cafile=str(cert)))
    return server, names


def test_https_uses_the_host_name_for_sni_and_verification(
    tls_pair: tuple[ssl.SSLContext, list[str | None]], resolver: ResolverStub, connect_guard: ConnectGuard
) -> None:
    server_context, names = tls_pair
    resolver.add("feeds.test", "127.0.0.1")
    with FeedServer(tls=server_context) as server:
        server.add_file("/feed.xml", FEED)
        settings = FetchSettings(timeout=5, allow_hosts=("feeds.test",))
        result = fetch_feed(
            f"https://feeds.test:{server.port}/feed.xml", etag=None, last_modified=None, settings=settings
        )
        assert result.body == FEED
        assert names == ["feeds.test"]
        assert ("127.0.0.1", server.port) in connect_guard.attempts
        # The same server by address: the certificate does not match, refused.
        by_ip = FetchSettings(timeout=5, allow_hosts=(server.netloc,))
        error = fetch_error(f"https://127.0.0.1:{server.port}/feed.xml", by_ip)
        assert error.kind == "connection"
