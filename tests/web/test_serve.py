"""`monitor serve` as its own process over real HTTP: it answers, and no
token (good or bad, in a header or a sign-in form) reaches its log, even at
debug level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.storage import create_db_engine, make_session_factory
from monitor.storage.migrate import upgrade
from tests.support.corpus import TOPICS, fill
from tests.support.processes import monitor_serve
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
    log = tmp_path / "serve.log"
    environment = {"MONITOR_API_TOKEN": TOKEN, "MONITOR_LOG_LEVEL": "DEBUG"}
    with monitor_serve(config, log, extra_env=environment, options=["-vv"]) as base:
        yield base, log


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
