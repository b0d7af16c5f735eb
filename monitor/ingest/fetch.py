"""Fetch one feed over HTTP(S), guarded.

feedparser never fetches anything itself (it has no timeout, no size limit,
follows redirects anywhere and opens ``file:`` URLs). This module is the only
way a feed's bytes enter the service:

* only ``http``/``https`` URLs, never one containing a backslash
  (``addresses``);
* **SSRF guard** in the connection layer (``transport``): an httpcore network backend
  resolves the host, refuses it when *any* resolved address is non-public
  (private, loopback, link-local, multicast, unspecified, reserved, CGNAT
  100.64/10, IPv4 embedded in IPv6), then connects to the very address it
  checked. Redirect hops and DNS rebinding therefore go through the same check
  (Miniflux's dialer pattern). Literal addresses, including the legacy
  numeric forms ``2130706433`` and ``0x7f.1``, are refused before any socket
  is opened. ``allow_private_networks`` and ``allow_hosts`` relax it;
* redirects are followed by hand, at most ``max_redirects``, re-checking the
  scheme and host of every hop;
* a **total** deadline (``timeout``) over DNS, connect, TLS, redirects and
  the body: every socket operation's timeout is clamped to what is left, and
  a watchdog shuts the sockets down at the deadline as a backstop;
* a cap on **decoded** bytes: gzip/deflate are decompressed in bounded
  steps (``decode``), so a gzip bomb stops at the cap without inflating further;
* statuses are checked: 200 and 304 succeed, 410 is ``gone``, 429/503 carry
  ``retry_after`` and everything else is ``http_status``.

Environment proxies are ignored on purpose: a proxy would connect on our
behalf and defeat the address check.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpcore
import httpx

from monitor.config import FeedConfig, FetchSettings
from monitor.ingest.addresses import is_public_address, validate_url
from monitor.ingest.decode import DECODE_STEP, BadEncoding, Decoder
from monitor.ingest.transport import Blocked, Deadline, GuardedTransport
from monitor.ingest.types import FetchError, FetchResult
from monitor.urls import redact_url, scrub_userinfo

__all__ = [
    "RequestOptions",
    "fetch_feed",
    "fetch_page",
    "is_public_address",
    "parse_retry_after",
    "validate_url",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RequestOptions:
    """A feed's own request settings (``headers``, ``user_agent``,
    ``basic_auth`` in the config). Credentials and extra headers go to the
    feed's own host only: a redirect to another host drops them, as browsers
    drop ``Authorization``."""

    user_agent: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str = field(default="", repr=False)

    @classmethod
    def of_feed(cls, feed: FeedConfig | None) -> RequestOptions:
        """A configured feed's own headers, user agent and basic auth."""
        if feed is None:
            return cls()
        auth = feed.basic_auth
        return cls(
            user_agent=feed.user_agent,
            headers=dict(feed.headers),
            username=auth.username if auth else None,
            password=auth.password if auth else "",
        )

    def private_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers


class _HideCredentials(logging.Filter):
    """httpx logs every request's full URL at INFO, user:password included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = scrub_userinfo(message), ()
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_HideCredentials())


# --- Retry-After -------------------------------------------------------------------


RETRY_AFTER_MAX = 365 * 86400


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    # A hostile server may send any digits (or Unicode digits such as "²",
    # which str.isdigit accepts): ASCII only, and no more than a year.
    if value.isascii() and value.isdigit():
        return float(min(int(value), RETRY_AFTER_MAX))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return min(float(RETRY_AFTER_MAX), max(0.0, (when - now).total_seconds()))


# --- the fetch ---------------------------------------------------------------------


def _request_headers(
    settings: FetchSettings,
    etag: str | None,
    last_modified: str | None,
    options: RequestOptions | None = None,
    accept: str = ACCEPT,
) -> dict[str, str]:
    headers = {
        "User-Agent": (options.user_agent if options else None) or settings.user_agent,
        "Accept": accept,
        "Accept-Encoding": "gzip, deflate",
    }
    if options is not None:
        headers.update(options.private_headers())
    # Validators come from a previous response (untrusted): never send one
    # that could split the header.
    if etag and not _HEADER_UNSAFE.search(etag) and etag.isascii():
        headers["If-None-Match"] = etag
    if last_modified and not _HEADER_UNSAFE.search(last_modified) and last_modified.isascii():
        headers["If-Modified-Since"] = last_modified
    return headers


def fetch_page(
    url: str, *, settings: FetchSettings, max_bytes: int, options: RequestOptions | None = None
) -> FetchResult:
    """GET an article's page through the same guard as a feed (address
    checks on every hop, total deadline, decoded-size cap ``max_bytes``)."""
    capped = settings.model_copy(update={"max_bytes": min(max_bytes, settings.max_bytes)})
    return fetch_feed(url, settings=capped, options=options, accept=PAGE_ACCEPT)


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: FetchSettings,
    options: RequestOptions | None = None,
    accept: str = ACCEPT,
) -> FetchResult:
    """GET a feed, guarded; a ``FetchResult`` for 200 or 304, else ``FetchError``.

    Error kinds: ``unsupported_url``, ``blocked``, ``too_many_redirects``,
    ``timeout``, ``too_large``, ``connection``, ``empty``, ``gone`` (410) and
    ``http_status`` (any other non-2xx; ``retry_after`` set for 429/503).
    """
    start = time.monotonic()
    current = validate_url(url, settings)
    headers = _request_headers(settings, etag, last_modified, options, accept)
    private = set(options.private_headers()) if options is not None else set()
    deadline = Deadline(settings.timeout)
    deadline.start()
    hop = 0
    try:
        with httpx.Client(
            transport=GuardedTransport(settings, deadline),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(settings.timeout),
        ) as client:
            while True:
                try:
                    result = _exchange(client, current, headers, settings, deadline, start)
                except _Redirect as redirect:
                    target = redirect.target
                    if hop >= settings.max_redirects:
                        raise FetchError(
                            "too_many_redirects",
                            f"too many redirects: gave up after {settings.max_redirects} redirects "
                            f"fetching {redact_url(str(url))} (the last one pointed to {redact_url(str(target))})",
                            status=redirect.status,
                        ) from None
                    try:
                        following = validate_url(target, settings)
                    except FetchError as exc:
                        raise FetchError(
                            exc.kind,
                            f"redirect from {redact_url(str(current))} to {redact_url(str(target))} refused: {exc}",
                            status=redirect.status,
                        ) from None
                    if private and following.host != current.host:
                        headers = {k: v for k, v in headers.items() if k not in private}
                        private = set()
                    current = following
                    hop += 1
                    continue
                return result
    except Blocked as exc:
        where = f"{redact_url(str(current))}" + (f" (redirected from {redact_url(str(url))})" if hop else "")
        raise FetchError(
            "blocked",
            f"private network host {exc.host} ({exc.address}) refused for {where} "
            "(add it to fetch.allow_hosts to allow it)",
        ) from None
    except (httpcore.TimeoutException, httpx.TimeoutException):
        raise _timeout(url, settings) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpx.TransportError, OSError) as exc:
        if deadline.expired or deadline.remaining() <= 0:
            raise _timeout(url, settings) from None
        raise FetchError("connection", f"cannot fetch {redact_url(str(current))}: {_describe(exc)}") from None
    except httpx.HTTPError as exc:  # e.g. an invalid URL in a redirect
        raise FetchError("connection", f"cannot fetch {redact_url(str(current))}: {exc}") from None
    finally:
        deadline.stop()


class _Redirect(Exception):
    def __init__(self, status: int, target: str) -> None:
        super().__init__(target)
        self.status = status
        self.target = target


def _timeout(url: str, settings: FetchSettings) -> FetchError:
    return FetchError(
        "timeout", f"timeout: no complete response from {redact_url(str(url))} within {settings.timeout:g}s"
    )


def _describe(exc: BaseException | str) -> str:
    """An error's text for a message: one line, no control characters, bounded.

    Unlike a URL, prose keeps its spaces; any URL inside it is stripped of
    credentials.
    """
    text = str(exc) or type(exc).__name__
    text = scrub_userinfo(text)
    text = " ".join(_HEADER_UNSAFE.sub(" ", text).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _exchange(
    client: httpx.Client,
    url: httpx.URL,
    headers: dict[str, str],
    settings: FetchSettings,
    deadline: Deadline,
    start: float,
) -> FetchResult:
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        shown = redact_url(str(url))
        if status in REDIRECT_STATUSES:
            location = response.headers.get("location")
            if not location:
                raise FetchError(
                    "http_status",
                    f"HTTP {status} redirect without a Location header from {shown}",
                    status=status,
                )
            try:
                target = str(url.join(location.strip()))
            except (httpx.InvalidURL, ValueError, TypeError):
                target = location
            raise _Redirect(status, target)
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return FetchResult(
                url=str(url),
                status=304,
                body=b"",
                headers=response_headers,
                etag=response.headers.get("etag") or headers.get("If-None-Match"),
                last_modified=response.headers.get("last-modified") or headers.get("If-Modified-Since"),
                elapsed=time.monotonic() - start,
            )
        if status == 410:
            raise FetchError("gone", f"HTTP 410 Gone: {shown} has been removed by its publisher", status=410)
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
            reason = "Too Many Requests" if status == 429 else "Service Unavailable"
            raise FetchError(
                "http_status",
                f"HTTP {status} {reason} from {shown}{wait}",
                status=status,
                retry_after=retry_after,
            )
        if not 200 <= status < 300:
            reason = response.reason_phrase or ""
            raise FetchError(
                "http_status",
                f"HTTP {status} {_describe(reason)}".rstrip() + f" from {shown}",
                status=status,
            )
        body = _read_body(response, url, settings, deadline)
        if not body.strip():
            raise FetchError("empty", f"empty response body from {shown} (HTTP {status})", status=status)
        return FetchResult(
            url=str(url),
            status=status,
            body=body,
            headers=response_headers,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            elapsed=time.monotonic() - start,
        )


def size_in_words(size: int) -> str:
    """A byte count for a person: ``512 bytes``, ``20 KiB``, ``15 MiB``, ``1.5 GiB``."""
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    amount = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        amount /= 1024
        if amount < 1024 or unit == "GiB":
            break
    return f"{amount:.1f}".removesuffix(".0") + f" {unit}"


def _read_body(
    response: httpx.Response, url: httpx.URL, settings: FetchSettings, deadline: Deadline
) -> bytes:
    cap = settings.max_bytes
    too_large = FetchError(
        "too_large",
        f"response too large: {redact_url(str(url))} sent more than {cap} bytes "
        f"({size_in_words(cap)}, fetch.max_bytes)",
    )
    content_encoding = response.headers.get("content-encoding")
    length = response.headers.get("content-length", "")
    if not content_encoding and length.isdigit() and int(length) > cap:
        raise too_large
    try:
        decoder = Decoder(content_encoding)
    except BadEncoding as exc:
        raise FetchError("connection", f"cannot read {redact_url(str(url))}: {exc}") from None
    body = bytearray()
    raw_total = 0
    try:
        for raw in response.iter_raw():
            raw_total += len(raw)
            if raw_total > 2 * cap + DECODE_STEP:
                raise too_large
            for piece in decoder.feed(raw):
                if len(body) + len(piece) > cap:
                    raise too_large
                body += piece
            deadline.clamp(None, httpcore.ReadTimeout)
        for piece in decoder.finish():
            if len(body) + len(piece) > cap:
                raise too_large
            body += piece
    except BadEncoding as exc:
        raise FetchError("connection", f"cannot read {redact_url(str(url))}: {exc}") from None
    return bytes(body)
