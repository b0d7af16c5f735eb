"""A real SMTP server on loopback for tests: aiosmtpd, collecting messages.

Usage::

    with SmtpServer() as smtp:              # 127.0.0.1, a free port
        url = smtp.apprise_url(to="ops@example.com")
        ...                                 # send through Apprise
        smtp.wait_for(1)                    # block until 1 message (or fail)
        msg = smtp.messages[0]              # email.message.EmailMessage
        msg["Subject"], msg.get_content()
        smtp.stop()                         # connections now refused
        smtp.start()                        # same port again

API:

* ``SmtpServer(host="127.0.0.1", port=0)``: port 0 picks a free port at the
  first ``start()``; later restarts reuse it.
* ``start()`` / ``stop()`` (idempotent), context manager.
* ``messages``: list of parsed ``email.message.EmailMessage``, in arrival
  order; ``envelopes``: ``(mail_from, rcpt_tos, raw_bytes)`` tuples.
* ``wait_for(count, timeout=10.0)``: wait until ``count`` messages arrived
  and return them; ``AssertionError`` on timeout.
* ``clear()``: forget collected messages.
* ``apprise_url(to=..., sender=...)``: the Apprise URL that reaches this
  server in plain SMTP (no TLS, no login): ``mailto://HOST:PORT?from=...&to=...``.
  The non-secure ``mailto://`` schema makes Apprise use its ``insecure``
  mode (``plugins/email/base.py``); ``mode=insecure`` is given explicitly too.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        self._server._record(envelope.mail_from, list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self._lock = threading.Condition()
        self._controller: Controller | None = None

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> SmtpServer:
        if self._controller is not None:
            return self
        if not self.port:
            self.port = free_port(self.host)
        controller = Controller(_Collector(self), hostname=self.host, port=self.port)
        # The port may sit in TIME_WAIT right after a stop; retry briefly.
        deadline = time.monotonic() + 10.0
        while True:
            try:
                controller.start()
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- messages ------------------------------------------------------------
    def _record(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.envelopes.append((mail_from, rcpt_tos, raw))
            self.messages.append(message)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()

    def apprise_url(
        self, to: str = "ops@example.com", sender: str = "monitor@example.com", **params: str
    ) -> str:
        if not self.port:
            raise RuntimeError("start the server first (the port is chosen at start)")
        query = "&".join(
            f"{key}={quote(value, safe='@')}"
            for key, value in {"from": sender, "to": to, "mode": "insecure", **params}.items()
        )
        return f"mailto://{self.host}:{self.port}?{query}"
