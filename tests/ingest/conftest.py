"""Fixtures of the ingest tests: real loopback servers, a resolver stub and a
connect guard.

* ``feed_server``: a ``FeedServer`` on 127.0.0.1, a free port.
* ``probe``: a ``FeedServer`` on 127.0.0.2 standing in for an internal
  service (169.254.169.254, 10/8 ...): every hit it counts is a failure.
* ``resolver``: ``socket.getaddrinfo`` replaced by a table of test names
  (``metadata.test`` -> 169.254.169.254); numeric hosts resolve as usual and
  any other name fails, so no test ever touches real DNS.
* ``connect_guard`` (autouse): every ``socket.connect`` is recorded and one to
  an address outside 127.0.0.0/8 raises, so nothing is ever sent to 10/8,
  169.254/16, 100.64/10 or the Internet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.config import FetchSettings
from tests.support.feed_server import FeedServer
from tests.support.network import ConnectGuard, ResolverStub


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> ResolverStub:
    stub = ResolverStub()
    monkeypatch.setattr(socket, "getaddrinfo", stub.getaddrinfo(socket.getaddrinfo))
    return stub


@pytest.fixture(autouse=True)
def connect_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectGuard]:
    guard = ConnectGuard()
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        if isinstance(address, tuple) and address:
            host, port = str(address[0]), int(address[1])
            guard.attempts.append((host, port))
            if ipaddress.ip_address(host.split("%")[0]) not in ipaddress.ip_network("127.0.0.0/8"):
                guard.refused.append((host, port))
                raise AssertionError(f"connect_guard: a connect to {host}:{port} was attempted")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield guard
    assert not guard.refused, f"connects outside 127.0.0.0/8 were attempted: {guard.refused}"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def probe() -> Iterator[FeedServer]:
    with FeedServer(host="127.0.0.2") as server:
        server.add_response("/", body=b"probe")
        yield server
    assert server.hits() == 0, f"the probe was reached: {server.requests}"


@pytest.fixture
def settings(feed_server: FeedServer) -> FetchSettings:
    """Fetch settings that allow the feed server (and nothing else private)."""
    return FetchSettings(timeout=5, allow_hosts=(feed_server.netloc,))
