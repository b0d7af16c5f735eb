"""`monitor serve` as its own process over real HTTP: it answers, and no
token (good or bad, in a header or a sign-in form) reaches its log, even at
debug level."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.storage import create_db_engine, make_session_factory
from monitor.storage.migrate import upgrade
from tests.support.corpus import TOPICS, fill
from tests.support.processes import REPO_ROOT, free_port, stop, wait_until
from tests.web.conftest import CSRF, TOKEN, config_text

pytestmark = pytest.mark.slow

WRONG = "wrong-token-fedcba9876543210"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A migrated SQLite database with a small history, served on a free port."""
    url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    upgrade(url)
    engine = create_db_engine(url)
    fill(make_session_factory(engine), matches=30, days=5)
    engine.dispose()
    config = tmp_path / "monitor.yaml"
    config.write_text(config_text(url, tokens=()), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({"MONITOR_API_TOKEN": TOKEN, "MONITOR_LOG_LEVEL": "DEBUG", "PYTHONPATH": str(REPO_ROOT)})
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-vv", "--config", str(config), "serve", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None  # ended: fail below with its log

    try:
        wait_until(answers, 60, what="monitor serve")
        assert proc.poll() is None, log.read_text()
        yield base, log
    finally:
        stop(proc)


def test_no_token_reaches_the_log(served: tuple[str, Path]) -> None:
    base, log = served
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/matches").status_code == 200
        listed = client.get("/api/v1/matches", params={"limit": 30}).json()["matches"]
        article = next(
            m["article"]["id"]
            for m in listed
            if not client.get(f"/api/v1/articles/{m['article']['id']}").json()["feedback"]
        )
        for token in (TOKEN, WRONG):
            client.post(
                f"/api/v1/articles/{article}/feedback",
                json={"topic": TOPICS[0], "relevant": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            csrf = CSRF.search(client.get("/login").text)
            assert csrf is not None
            client.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/feeds"})
        # A token given where none belongs is refused, and not logged either.
        assert client.get("/api/v1/feeds", params={"token": TOKEN}).status_code == 422
        stored = client.get(f"/api/v1/articles/{article}").json()["feedback"]
    assert stored == [{"topic": TOPICS[0], "relevant": True}]
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "POST /api/v1/articles" in text and "POST /login" in text  # the requests are logged...
    assert TOKEN not in text and WRONG not in text  # ...their tokens are not
