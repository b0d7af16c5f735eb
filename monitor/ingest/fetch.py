"""Fetch one feed over HTTP(S), guarded.

feedparser never fetches anything itself (it has no timeout, no size limit,
follows redirects anywhere and opens ``file:`` URLs). This module is the only
way a feed's bytes enter the service:

* only ``http``/``https`` URLs, never one containing a backslash;
* **SSRF guard** in the connection layer: an httpcore network backend
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
* a cap on **decoded** bytes: gzip/deflate are decompressed here in bounded
  steps, so a gzip bomb stops at the cap without inflating further;
* statuses are checked: 200 and 304 succeed, 410 is ``gone``, 429/503 carry
  ``retry_after`` and everything else is ``http_status``.

Environment proxies are ignored on purpose: a proxy would connect on our
behalf and defeat the address check.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from monitor.config import FetchSettings
from monitor.ingest.types import FetchError, FetchResult
from monitor.urls import scrub_userinfo, without_userinfo

__all__ = [
    "fetch_feed",
    "is_public_address",
    "parse_retry_after",
    "safe_url",
    "validate_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
# Bytes handed out by one decompression step; keeps a bomb's output bounded.
_DECODE_STEP = 64 * 1024
_SCHEMES = ("http", "https")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Networks to treat as public even though ``ipaddress`` says otherwise. Empty
# in production; tests put a documentation range here (203.0.113.0/24) to
# stand for "a public address" without touching the Internet.
EXTRA_PUBLIC_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


class _HideCredentials(logging.Filter):
    """httpx logs every request's full URL at INFO, user:password included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = scrub_userinfo(message), ()
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_HideCredentials())


# --- addresses ---------------------------------------------------------------


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    IPv4 inside IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64) is
    judged by the IPv4 address it carries.
    """
    if any(ip in net for net in EXTRA_PUBLIC_NETWORKS if net.version == ip.version):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if any(ip in net for net in _NAT64):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if embedded:
            return all(is_public_address(v4) for v4 in embedded)
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, including ``2130706433``/``0x7f.1``."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        # inet_aton accepts the legacy forms (decimal, octal, hex, 1-4 parts)
        # that getaddrinfo and browsers also accept.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            raise FetchError("unsupported_url", f"unsupported URL: {host!r} is not a valid address") from None
    return None


def _allowed(host: str, port: int, ip: IPAddress, settings: FetchSettings) -> bool:
    """May we connect to ``ip`` for ``host:port``?

    ``allow_hosts`` entries match the URL's host name (``feeds.local``,
    ``feeds.local:8080``: any address it resolves to) or the resolved address
    (``127.0.0.1:8097``: only that address, so a name that rebinds elsewhere
    is still refused).
    """
    if settings.allow_private_networks or is_public_address(ip):
        return True
    entries = {_norm_host_entry(entry) for entry in settings.allow_hosts}
    if not entries:
        return False
    name = host.strip("[]").lower().rstrip(".")
    address = str(ip)
    candidates = {name, f"{name}:{port}", address, f"{address}:{port}"}
    return bool(entries & candidates)


def _norm_host_entry(entry: str) -> str:
    entry = entry.strip().lower()
    if entry.startswith("["):  # [::1] or [::1]:8080
        inside, _, rest = entry[1:].partition("]")
        return inside + rest
    return entry.rstrip(".")


# --- URLs ----------------------------------------------------------------------


def safe_url(url: str | httpx.URL) -> str:
    """The URL for a message: no user:password, no control characters, bounded."""
    text = without_userinfo(str(url))
    text = _CONTROL.sub(lambda m: f"%{ord(m.group()):02X}", text)
    return text if len(text) <= 300 else text[:297] + "..."


def validate_url(url: str | httpx.URL, settings: FetchSettings) -> httpx.URL:
    """Parse ``url`` and refuse what may never be fetched.

    Raises ``FetchError`` of kind ``unsupported_url`` (not http/https, a
    backslash, no host) or ``blocked`` (a literal non-public address).
    Host names are checked later, on the addresses actually connected to.
    """
    text = str(url)
    if "\\" in text:
        raise FetchError(
            "unsupported_url",
            f"unsupported URL {safe_url(text)}: a backslash is not allowed in a feed URL",
        )
    text = text.strip()
    if _CONTROL.search(text.replace(" ", "")) or " " in text:
        raise FetchError("unsupported_url", f"unsupported URL {safe_url(text)}: spaces or control characters")
    scheme = text.partition(":")[0].lower() if ":" in text else ""
    if scheme not in _SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise FetchError(
            "unsupported_url",
            f"unsupported URL {safe_url(text)} ({shown}): feeds must be http:// or https:// URLs",
        )
    try:
        split = urlsplit(text)
        early_host, early_port = split.hostname, split.port
    except ValueError:
        early_host, early_port = None, None
    if early_host:
        # Before httpx parses it: httpx rejects some numeric forms (0177.0.0.1)
        # that other clients accept; they are still private addresses.
        _refuse_literal(early_host, early_port or (443 if scheme == "https" else 80), text, settings)
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError("unsupported_url", f"unsupported URL {safe_url(text)}: {exc}") from None
    if parsed.scheme not in _SCHEMES or not parsed.host:
        raise FetchError("unsupported_url", f"unsupported URL {safe_url(text)}: no host")
    _refuse_literal(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), parsed, settings)
    return parsed


def _refuse_literal(host: str, port: int, url: str | httpx.URL, settings: FetchSettings) -> None:
    address = _literal_address(host)
    if address is not None and not _allowed(host, port, address, settings):
        raise FetchError(
            "blocked",
            f"private network host {address} refused for {safe_url(url)} "
            "(add it to fetch.allow_hosts to allow it)",
        )


# --- the guarded connection layer ---------------------------------------------


class _Blocked(Exception):
    def __init__(self, host: str, address: IPAddress) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


class _Deadline:
    """The fetch's total deadline, shared by every socket operation."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds + 0.25, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def clamp(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.remaining()
        if left <= 0:
            self.expired = True
            raise error(f"deadline of {self.seconds:g}s reached")
        return left if timeout is None else min(timeout, left)

    def track(self, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                if self.expired:
                    self._shutdown(sock)

    def _expire(self) -> None:
        # Backstop for an operation that blocks across several reads of its
        # own (a dripped TLS handshake): shutting the socket down wakes it.
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline
        deadline.track(inner.get_extra_info("socket"))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    """All addresses of ``host``; DNS runs in a thread so the deadline holds."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    box: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="feed-dns", daemon=True).start()
    if not done.wait(deadline.clamp(None, httpcore.ConnectTimeout)):
        deadline.expired = True
        raise httpcore.ConnectTimeout(f"resolving {host} did not finish before the deadline")
    if "error" in box:
        raise httpcore.ConnectError(f"cannot resolve host {host}: {box['error']}")
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in box["infos"]:
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve host {host}: no addresses")
    return addresses


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check every address, then connect to a checked address."""

    def __init__(self, settings: FetchSettings, deadline: _Deadline) -> None:
        self._settings = settings
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, self._deadline)
        for address in addresses:
            if not _allowed(host, port, address, self._settings):
                raise _Blocked(host, address)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=self._deadline.clamp(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, max(self._deadline.remaining(), 0.0)))


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        stream = self._response.stream
        assert isinstance(stream, Iterable)
        yield from stream

    def close(self) -> None:
        self._response.close()


class _GuardedTransport(httpx.BaseTransport):
    """An httpx transport on a connection pool that uses the guarded backend."""

    def __init__(self, settings: FetchSettings, deadline: _Deadline) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_default_ssl_context(),
            max_connections=4,
            network_backend=_GuardedBackend(settings, deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _default_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


# --- bodies ----------------------------------------------------------------------


class _BadEncoding(Exception):
    pass


class _Decoder:
    """Content-Encoding decoding in bounded steps (identity, gzip, deflate).

    A body that says it is compressed but is not (no output before the first
    error) is passed through as is, as feedparser and browsers do.
    """

    def __init__(self, content_encoding: str | None) -> None:
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _BadEncoding(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        self._zlib: Any = None
        self._started = False  # produced output
        self._held: list[bytes] = []  # raw bytes until the first output
        self._raw_fallback = False
        self._tried_raw = False
        if self._coding is not None:
            self._zlib = self._new()

    def _new(self, raw_deflate: bool = False) -> Any:
        if self._coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._coding is None or self._raw_fallback:
            if data:
                yield data
            return
        if not self._started:
            self._held.append(data)
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            if self._started:
                raise _BadEncoding(f"corrupt {self._coding} body: {exc}") from None
            if self._coding == "deflate" and not self._tried_raw:
                self._tried_raw = True  # "deflate" sent without its zlib header
                self._zlib = self._new(raw_deflate=True)
                held, self._held = b"".join(self._held), []
                yield from self.feed(held)
                return
            self._raw_fallback = True
            held, self._held = b"".join(self._held), []
            yield held

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            out = self._zlib.decompress(pending, _DECODE_STEP)
            pending = self._zlib.unconsumed_tail
            if out:
                self._started = True
                self._held = []
                yield out
            if self._zlib.eof:
                rest = self._zlib.unused_data
                if not rest.strip(b"\x00\r\n\t "):
                    return
                self._zlib = self._new()  # a further gzip member
                pending = rest
                continue
            if not pending and len(out) < _DECODE_STEP:
                return

    def finish(self) -> Iterator[bytes]:
        if self._coding is None or self._raw_fallback or self._zlib is None:
            return
        if not self._started and self._held:
            # Nothing decoded at all: a truncated header or not compressed.
            self._raw_fallback = True
            held, self._held = b"".join(self._held), []
            yield held
            return
        try:
            out = self._zlib.flush()
        except zlib.error:
            return
        if out:
            yield out


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


def _request_headers(settings: FetchSettings, etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {
        "User-Agent": settings.user_agent,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
    }
    # Validators come from a previous response (untrusted): never send one
    # that could split the header.
    if etag and not _HEADER_UNSAFE.search(etag) and etag.isascii():
        headers["If-None-Match"] = etag
    if last_modified and not _HEADER_UNSAFE.search(last_modified) and last_modified.isascii():
        headers["If-Modified-Since"] = last_modified
    return headers


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: FetchSettings,
) -> FetchResult:
    """GET a feed, guarded; a ``FetchResult`` for 200 or 304, else ``FetchError``.

    Error kinds: ``unsupported_url``, ``blocked``, ``too_many_redirects``,
    ``timeout``, ``too_large``, ``connection``, ``empty``, ``gone`` (410) and
    ``http_status`` (any other non-2xx; ``retry_after`` set for 429/503).
    """
    start = time.monotonic()
    current = validate_url(url, settings)
    headers = _request_headers(settings, etag, last_modified)
    deadline = _Deadline(settings.timeout)
    deadline.start()
    hop = 0
    try:
        with httpx.Client(
            transport=_GuardedTransport(settings, deadline),
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
                            f"fetching {safe_url(url)} (the last one pointed to {safe_url(target)})",
                            status=redirect.status,
                        ) from None
                    try:
                        current = validate_url(target, settings)
                    except FetchError as exc:
                        raise FetchError(
                            exc.kind,
                            f"redirect from {safe_url(current)} to {safe_url(target)} refused: {exc}",
                            status=redirect.status,
                        ) from None
                    hop += 1
                    continue
                return result
    except _Blocked as exc:
        where = f"{safe_url(current)}" + (f" (redirected from {safe_url(url)})" if hop else "")
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
        raise FetchError("connection", f"cannot fetch {safe_url(current)}: {_describe(exc)}") from None
    except httpx.HTTPError as exc:  # e.g. an invalid URL in a redirect
        raise FetchError("connection", f"cannot fetch {safe_url(current)}: {exc}") from None
    finally:
        deadline.stop()


class _Redirect(Exception):
    def __init__(self, status: int, target: str) -> None:
        super().__init__(target)
        self.status = status
        self.target = target


def _timeout(url: str, settings: FetchSettings) -> FetchError:
    return FetchError(
        "timeout", f"timeout: no complete response from {safe_url(url)} within {settings.timeout:g}s"
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
    deadline: _Deadline,
    start: float,
) -> FetchResult:
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        shown = safe_url(url)
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


def _read_body(
    response: httpx.Response, url: httpx.URL, settings: FetchSettings, deadline: _Deadline
) -> bytes:
    cap = settings.max_bytes
    too_large = FetchError(
        "too_large",
        f"response too large: {safe_url(url)} sent more than {cap} bytes "
        f"({cap / (1024 * 1024):.1f} MiB, fetch.max_bytes)",
    )
    content_encoding = response.headers.get("content-encoding")
    length = response.headers.get("content-length", "")
    if not content_encoding and length.isdigit() and int(length) > cap:
        raise too_large
    try:
        decoder = _Decoder(content_encoding)
    except _BadEncoding as exc:
        raise FetchError("connection", f"cannot read {safe_url(url)}: {exc}") from None
    body = bytearray()
    raw_total = 0
    try:
        for raw in response.iter_raw():
            raw_total += len(raw)
            if raw_total > 2 * cap + _DECODE_STEP:
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
    except _BadEncoding as exc:
        raise FetchError("connection", f"cannot read {safe_url(url)}: {exc}") from None
    return bytes(body)
