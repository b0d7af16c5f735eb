"""Real processes for tests: Celery workers and beat, `monitor serve`, throwaway redis-servers.

Every process is started by the test and ended by its PID (process group),
never by name: the machine's own Redis and PostgreSQL are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _env(config: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra or {})
    return env


def start_worker(
    config: Path,
    log: Path,
    *,
    concurrency: int = 2,
    pool: str = "prefork",
    name: str = "w1",
    extra_env: Mapping[str, str] | None = None,
    queues: str | None = None,
) -> subprocess.Popen[bytes]:
    """A Celery worker on our app; on every queue the app declares unless
    ``queues`` (comma-separated) names some."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *([f"--queues={queues}"] if queues else []),
        ],
        cwd=REPO_ROOT,
        env=_env(config, extra_env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_beat(config: Path, log: Path, schedule: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "beat",
            "--loglevel=INFO",
            f"--schedule={schedule}",
        ],
        cwd=REPO_ROOT,
        env=_env(config),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def monitor_serve(
    config: Path, log: Path, *, extra_env: Mapping[str, str] | None = None, options: Sequence[str] = ()
) -> Iterator[str]:
    """`monitor [options] serve` on a free loopback port, as its own process;
    yields its base URL once /health answers, and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *options, "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=_env(config, extra_env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return proc.poll() is not None  # ended: said below, with its log

    try:
        wait_until(answers, 60, what="monitor serve")
        if proc.poll() is not None:
            raise AssertionError(f"monitor serve ended: {log.read_text(errors='replace')}")
        yield base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """End a process we started, and its children (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


class RedisServer:
    """A throwaway redis-server on a free port, for tests that kill or restart it."""

    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ]
        args += (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self._answers, 10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
