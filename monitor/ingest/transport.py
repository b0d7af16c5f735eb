"""The guarded connection layer under httpx: every connection a fetch opens.

* An httpcore network backend resolves the host, refuses it when *any*
  resolved address is not allowed (``monitor.ingest.addresses``), then
  connects to the very address it checked. Redirect hops and DNS rebinding
  therefore go through the same check (Miniflux's dialer pattern).
* A **total** deadline over DNS, connect, TLS and every read: each socket
  operation's timeout is clamped to what is left, and a watchdog shuts the
  sockets down at the deadline as a backstop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from monitor.config import FetchSettings
from monitor.ingest.addresses import IPAddress, allowed, literal_address

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


class Blocked(Exception):
    def __init__(self, host: str, address: IPAddress) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


class Deadline:
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


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
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
        return DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int, deadline: Deadline) -> list[IPAddress]:
    """All addresses of ``host``; DNS runs in a thread so the deadline holds."""
    literal = literal_address(host)
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

    def __init__(self, settings: FetchSettings, deadline: Deadline) -> None:
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
            if not allowed(host, port, address, self._settings):
                raise Blocked(host, address)
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
            return DeadlineStream(stream, self._deadline)
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


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport on a connection pool that uses the guarded backend."""

    def __init__(self, settings: FetchSettings, deadline: Deadline) -> None:
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
