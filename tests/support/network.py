"""Network test doubles that never touch the outside world.

* ``ResolverStub``: a replacement for ``socket.getaddrinfo`` (install it with
  ``monkeypatch.setattr(socket, "getaddrinfo", stub.getaddrinfo(socket.getaddrinfo))``)
  that maps test names (``metadata.test``) to chosen addresses, answers
  differently on successive lookups (DNS rebinding) or hangs (a dead DNS
  server). Numeric hosts resolve as usual; every other name fails, so real DNS
  is never asked.
* ``ConnectGuard``: what ``tests/ingest/conftest.py``'s autouse fixture records
  of every ``socket.connect`` (``attempts``) and refuses (``refused``: anything
  outside 127.0.0.0/8).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any


class ResolverStub:
    def __init__(self) -> None:
        self.names: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self.hanging: dict[str, float] = {}
        self._calls: dict[str, int] = {}

    def add(self, name: str, *addresses: str) -> None:
        """``name`` resolves to all of ``addresses`` (every lookup)."""
        self.names[name.lower()] = [list(addresses)]
        self._calls[name.lower()] = 0

    def add_hang(self, name: str, seconds: float) -> None:
        """Looking ``name`` up blocks for ``seconds`` (a dead DNS server), then fails."""
        self.hanging[name.lower()] = seconds

    def add_sequence(self, name: str, *answers: list[str]) -> None:
        """Successive lookups of ``name`` get successive answers; the last repeats."""
        self.names[name.lower()] = [list(a) for a in answers]
        self._calls[name.lower()] = 0

    def getaddrinfo(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def fake(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            key = name.lower().rstrip(".")
            if key in self.hanging:
                self.lookups.append(key)
                time.sleep(self.hanging[key])
                raise socket.gaierror(socket.EAI_AGAIN, f"test resolver: {name} timed out")
            if key in self.names:
                self.lookups.append(key)
                answers = self.names[key]
                answer = answers[min(self._calls[key], len(answers) - 1)]
                self._calls[key] += 1
                result: list[tuple[Any, ...]] = []
                for address in answer:
                    ip = ipaddress.ip_address(address)
                    if ip.version == 6:
                        result.append(
                            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0))
                        )
                    else:
                        result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0))))
                return result
            try:
                ipaddress.ip_address(key.strip("[]"))
            except ValueError:
                if key != "localhost":
                    raise socket.gaierror(socket.EAI_NONAME, f"test resolver: unknown name {name}") from None
            return original(
                host,
                port,
                family,
                type,
                proto,
                flags | socket.AI_NUMERICHOST if key != "localhost" else flags,
            )

        return fake


class ConnectGuard:
    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []
        self.refused: list[tuple[str, int]] = []
