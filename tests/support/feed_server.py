"""A scriptable feed server on loopback, for fetcher and end-to-end tests.

Usage::

    with FeedServer() as server:                     # 127.0.0.1, a free port
        server.add_file("/feed.xml", path_or_bytes)  # 200 + ETag + Last-Modified, 304 on match
        url = server.url("/feed.xml")                # http://127.0.0.1:PORT/feed.xml
        ...                                          # fetch it
        server.set_content("/feed.xml", new_bytes)   # new body, new ETag/Last-Modified
        server.hits("/feed.xml")                     # how many requests that path got
        server.requests[-1].headers["if-none-match"] # the request log

API (every ``add_*`` replaces what was served at that path before; paths are
matched without their query string; an unknown path answers 404):

* ``FeedServer(host="127.0.0.1", port=0, tls=None)``: any 127.0.0.0/8 address
  (a probe on ``127.0.0.2``); port 0 picks a free port at ``start()``; ``tls``
  (a server ``ssl.SSLContext``) serves HTTPS. ``start()`` /
  ``stop()`` and the context manager; ``stop()`` also wakes hanging handlers.
* ``url(path="/")``, ``base_url``, ``host``, ``port``, ``netloc`` (``host:port``,
  for ``FetchSettings(allow_hosts=(server.netloc,))``).
* ``add_file(path, content, content_type=..., etag=True, last_modified=True,
  headers=None)``: ``content`` is bytes or a file path. Conditional GET:
  ``If-None-Match`` matching the ETag or ``If-Modified-Since`` at/after the
  Last-Modified gives 304 with no body.
* ``set_content(path, content)``: change a served file at runtime (new ETag,
  Last-Modified one second later).
* ``add_response(path, status=200, body=b"", headers=None, *, delay=0,
  hang=None, drip_rate=None, endless=False, gzip=False, content_length=True)``:
  a scripted answer. ``delay``: sleep before answering; ``hang``: accept the
  request and send nothing for that many seconds (then close); ``drip_rate``:
  send the body at that many bytes per second; ``endless``: a chunked body
  that never ends (``body`` repeated, default 64 KiB of spaces);
  ``gzip``: gzip ``body`` and send ``Content-Encoding: gzip`` (to serve an
  already-compressed file such as a gzip bomb, pass its bytes as ``body`` and
  ``headers={"Content-Encoding": "gzip"}`` instead); ``content_length=False``
  sends the body chunked.
* ``add_redirect(path, location, status=302)``; ``add_redirect_chain(prefix,
  hops, final=None, status=302)`` makes ``prefix/0`` -> ``prefix/1`` -> ... ->
  ``prefix/<hops>`` (``final`` is served there if given); ``add_redirect(path,
  path)`` is a loop.
* ``add_sequence(path, [route, ...])``: successive answers, the last repeats
  (``route(...)`` builds one with the ``add_response`` arguments).
* ``requests``: every request received, in order: ``Request(method, path,
  headers (lower-case keys), client)``; ``hits(path=None)``; ``clear_log()``.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

_ENDLESS_CHUNK = b" " * 65536


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    client: str


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: float | None = None
    drip_rate: float | None = None
    endless: bool = False
    gzip: bool = False
    content_length: bool = True
    # conditional GET (files)
    etag: str | None = None
    last_modified: float | None = None  # epoch seconds


def route(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    delay: float = 0.0,
    hang: float | None = None,
    drip_rate: float | None = None,
    endless: bool = False,
    gzip: bool = False,
    content_length: bool = True,
) -> Route:
    """One scripted answer (see ``FeedServer.add_response``)."""
    return Route(
        status=status,
        body=body,
        headers=dict(headers or {}),
        delay=delay,
        hang=hang,
        drip_rate=drip_rate,
        endless=endless,
        gzip=gzip,
        content_length=content_length,
    )


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.requests: list[Request] = []
        self._routes: dict[str, list[Route]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> FeedServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses -------------------------------------------------------------

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.netloc}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- scripting ---------------------------------------------------------------

    def add_file(
        self,
        path: str,
        content: bytes | str | Path,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: bool = True,
        last_modified: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = _content(content)
        item = Route(status=200, body=body, headers={"Content-Type": content_type, **(headers or {})})
        if etag:
            item.etag = _etag(body)
        if last_modified:
            item.last_modified = float(int(time.time()) - 60)
        self._set(path, [item])

    def set_content(self, path: str, content: bytes | str | Path) -> None:
        body = _content(content)
        with self._lock:
            items = self._routes[path]
            item = items[-1]
            item.body = body
            if item.etag is not None:
                item.etag = _etag(body)
            if item.last_modified is not None:
                item.last_modified = max(item.last_modified + 1, float(int(time.time())))

    def add_response(
        self,
        path: str,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        self._set(path, [route(status, body, headers, **options)])

    def add_sequence(self, path: str, routes: Sequence[Route]) -> None:
        self._set(path, list(routes))

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        self._set(path, [Route(status=status, headers={"Location": location})])

    def add_redirect_chain(
        self, prefix: str, hops: int, final: bytes | None = None, status: int = 302
    ) -> None:
        for i in range(hops):
            self.add_redirect(f"{prefix}/{i}", f"{prefix}/{i + 1}", status)
        if final is not None:
            self.add_file(f"{prefix}/{hops}", final)

    def _set(self, path: str, routes: list[Route]) -> None:
        with self._lock:
            self._routes[path] = routes
            self._served[path] = 0

    # --- the log -------------------------------------------------------------------

    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.split("?")[0] == path)

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- serving (called by the handler) -----------------------------------------

    def _next_route(self, path: str) -> Route | None:
        with self._lock:
            items = self._routes.get(path)
            if not items:
                return None
            index = min(self._served[path], len(items) - 1)
            self._served[path] += 1
            return items[index]

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _content(content: bytes | str | Path) -> bytes:
    if isinstance(content, bytes):
        return content
    return Path(content).read_bytes()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _not_modified(item: Route, headers: dict[str, str]) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None and item.etag is not None:
        tags = [t.strip() for t in inm.split(",")]
        return item.etag in tags or "*" in tags
    ims = headers.get("if-modified-since")
    if ims is not None and item.last_modified is not None:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return item.last_modified <= since
    return False


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FeedServer/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            server._log(Request(self.command, self.path, headers, self.client_address[0]))
            item = server._next_route(path)
            self.close_connection = True
            if item is None:
                self._send(404, b"not found\n", {"Content-Type": "text/plain"}, send_body)
                return
            if item.hang is not None:
                server._stopping.wait(item.hang)
                return
            if item.delay:
                server._stopping.wait(item.delay)
            extra = dict(item.headers)
            if item.etag is not None:
                extra["ETag"] = item.etag
            if item.last_modified is not None:
                extra["Last-Modified"] = formatdate(item.last_modified, usegmt=True)
            if (item.etag is not None or item.last_modified is not None) and _not_modified(item, headers):
                self._send(304, b"", extra, send_body=False)
                return
            body = item.body
            if item.gzip:
                body = gzip_module.compress(body)
                extra["Content-Encoding"] = "gzip"
            if item.endless:
                self._endless(item, extra, send_body)
            elif item.drip_rate:
                self._drip(item, body, extra, send_body)
            else:
                self._send(item.status, body, extra, send_body, item.content_length)

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str],
            send_body: bool,
            content_length: bool = True,
        ) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                if status == 304 or status < 200:
                    self.end_headers()
                    return
                if content_length:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if send_body:
                        self.wfile.write(body)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if send_body:
                        for i in range(0, len(body), 65536):
                            part = body[i : i + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client went away: expected in abort tests

        def _endless(self, item: Route, headers: dict[str, str], send_body: bool) -> None:
            chunk = item.body or _ENDLESS_CHUNK
            try:
                self.send_response(item.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                while send_body and not server._stopping.is_set():
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass

        def _drip(self, item: Route, body: bytes, headers: dict[str, str], send_body: bool) -> None:
            assert item.drip_rate
            pause = 1.0 / item.drip_rate
            try:
                self.send_response(item.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                for i in range(len(body) if send_body else 0):
                    if server._stopping.wait(pause):
                        return
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
            except OSError:
                pass

    return Handler
