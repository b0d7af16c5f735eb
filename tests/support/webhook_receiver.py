"""A scripted HTTP webhook receiver on loopback, for Apprise ``json://`` tests.

Usage::

    with WebhookReceiver() as hook:                 # 127.0.0.1, a free port
        hook.script(500, 429, "delay:5", 200)       # next responses, in order
        url = hook.apprise_url("/alerts")           # json://127.0.0.1:PORT/alerts
        ...
        hook.wait_for(1)                            # requests that got a 2xx
        hook.requests[0].json                       # parsed JSON body

API:

* ``WebhookReceiver(host="127.0.0.1", port=0)``: port 0 picks a free port at
  the first ``start()``; ``stop()`` then ``start()`` reuses it (connection
  refused in between).
* ``script(*steps)``: queue responses for the next requests; once the queue
  is empty every request gets ``default_status`` (200). A step is an int
  status (``500``, ``429``...), ``"delay:SECONDS"`` (sleep, then answer 200),
  ``"drop"`` (close the connection without answering), or a ``Response``.
* ``requests``: every request received, in arrival order (``Received(method,
  path, headers, body, json, status)``), including failed ones; ``status`` is
  None until answered and stays None for ``"drop"``. ``delivered``: only those
  answered 2xx; ``wait_for(count, timeout)`` waits for ``count`` delivered;
  ``wait_idle(timeout)`` waits until no request is still being answered
  (e.g. a delayed one whose client already timed out).
* ``apprise_url(path="/hook", **params)``: ``json://HOST:PORT/path?...``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlencode


@dataclass
class Response:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    status: int | None


Step = int | str | Response


def _as_response(step: Step) -> Response:
    if isinstance(step, Response):
        return step
    if isinstance(step, int):
        return Response(status=step, body=b"ok" if 200 <= step < 300 else b"error")
    if step == "drop":
        return Response(drop=True)
    if step.startswith("delay:"):
        return Response(delay=float(step.split(":", 1)[1]))
    raise ValueError(f"unknown response step {step!r}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_status: int = 200) -> None:
        self.host = host
        self.port = port
        self.default_status = default_status
        self.requests: list[Received] = []
        self._steps: deque[Response] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -----------------------------------------------------------
    def script(self, *steps: Step) -> None:
        with self._cond:
            self._steps.extend(_as_response(step) for step in steps)

    def _next(self) -> Response:
        with self._cond:
            if self._steps:
                return self._steps.popleft()
        return Response(status=self.default_status)

    def _record(self, received: Received) -> None:
        with self._cond:
            self._in_flight += 1
            self.requests.append(received)
            self._cond.notify_all()

    def _done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every request received so far has been answered (or dropped)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight == 0, timeout):
                raise AssertionError(f"{self._in_flight} request(s) still in flight")

    @property
    def delivered(self) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        def enough() -> bool:
            return sum(1 for r in self.requests if r.status is not None and 200 <= r.status < 300) >= count

        with self._cond:
            if not self._cond.wait_for(enough, timeout):
                raise AssertionError(f"expected {count} delivered request(s), got {len(self.delivered)}")
        return self.delivered

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()
            self._steps.clear()

    def apprise_url(self, path: str = "/hook", **params: str) -> str:
        if not self.port:
            raise RuntimeError("start the receiver first (the port is chosen at start)")
        query = f"?{urlencode(params)}" if params else ""
        return f"json://{self.host}:{self.port}/{path.lstrip('/')}{query}"

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> WebhookReceiver:
        if self._server is not None:
            return self
        if not self.port:
            self.port = _free_port(self.host)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed: Any = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                response = receiver._next()
                received = Received(self.command, self.path, dict(self.headers), body, parsed, None)
                receiver._record(received)  # in arrival order; status set once answered
                try:
                    if response.delay:
                        time.sleep(response.delay)
                    if response.drop:
                        self.close_connection = True
                        return
                    with receiver._cond:  # before answering: the client may look at once
                        received.status = response.status
                    try:
                        self.send_response(response.status)
                        for name, value in response.headers.items():
                            self.send_header(name, value)
                        self.send_header("Content-Length", str(len(response.body)))
                        self.end_headers()
                        self.wfile.write(response.body)
                    except OSError:  # the client gave up (timeout): nothing to do
                        pass
                finally:
                    receiver._done()

            do_POST = _handle
            do_PUT = _handle
            do_GET = _handle

        deadline = time.monotonic() + 10.0
        while True:
            try:
                server = ThreadingHTTPServer((self.host, self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
