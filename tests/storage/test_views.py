"""Read models shown by the CLI and the API, from one set of queries."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import main
from monitor.config import load_config_text
from monitor.storage import Feed, FeedStatus, utcnow
from monitor.storage.views import list_feeds
from monitor.web.app import create_app

NOW = utcnow()


def _feeds(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add_all(
            [
                Feed(
                    url="https://reader:pw@active.example/rss",
                    name="Active",
                    interval_seconds=60,
                    next_check_at=NOW + timedelta(minutes=1),
                    last_new_article_at=NOW - timedelta(hours=1),
                    created_at=NOW - timedelta(days=30),
                ),
                Feed(
                    url="https://gone.example/rss",
                    name="Gone",
                    interval_seconds=60,
                    status=FeedStatus.GONE,
                    next_check_at=NOW - timedelta(days=3),
                    consecutive_errors=1,
                    last_error="HTTP 410 Gone",
                    created_at=NOW - timedelta(days=30),
                ),
            ]
        )


def test_a_gone_feed_has_no_next_check_and_silence_is_computed(
    session_factory: sessionmaker[Session],
) -> None:
    _feeds(session_factory)
    with session_factory() as session:
        active, gone = list_feeds(session, now=NOW, silent_after=7 * 86400)
    assert active.url == "https://active.example/rss"  # credentials never shown
    assert active.next_check_at == NOW + timedelta(minutes=1)
    assert not active.silent
    assert (gone.status, gone.next_check_at, gone.silent) == (FeedStatus.GONE, None, True)


def test_cli_and_api_show_the_same_feeds(
    session_factory: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    _feeds(session_factory)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database_url: '{db_url}'\n", encoding="utf-8")
    runner = CliRunner()
    listed = runner.invoke(main, ["--config", str(config), "feeds", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    from_cli = [json.loads(line) for line in listed.output.splitlines()]
    from_api = (
        TestClient(create_app(load_config_text(f"database_url: '{db_url}'\n"))).get("/api/v1/feeds").json()
    )
    assert from_cli == from_api
    assert set(from_api[0]) >= {"silent", "last_new_article_at", "next_check_at"}
    assert from_api[1]["next_check_at"] is None
    table = runner.invoke(main, ["--config", str(config), "feeds"])
    gone_line = next(line for line in table.output.splitlines() if "Gone" in line)
    assert "next -" in gone_line
