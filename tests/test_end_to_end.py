"""End to end in embedded mode: real feed server, real SQLite/PostgreSQL,
real webhook receiver and SMTP server, the real `monitor` command.

New items appear -> exactly the expected matches -> exactly one alert per
match and channel, with the expected text -> the next poll creates nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.storage import Article, Delivery, Match, create_db_engine, make_session_factory
from tests.support.feed_server import FeedServer
from tests.support.scenario import EXPECTED, EXPECTED_AFTER_NEW_ITEM, add_new_item, serve_feeds, write_config
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, WebhookReceiver, SmtpServer]]:
    with FeedServer() as feeds, WebhookReceiver() as hook, SmtpServer() as smtp:
        serve_feeds(feeds)
        yield feeds, hook, smtp


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


def stored_matches(db_url: str) -> set[tuple[str, str]]:
    engine = create_db_engine(db_url)
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(Article.item_key, Match.topic_id).join(Match, Match.article_id == Article.id)
        ).all()
    engine.dispose()
    return {(key, topic) for key, topic in rows}


def delivery_states(db_url: str) -> list[str]:
    engine = create_db_engine(db_url)
    with make_session_factory(engine)() as session:
        states = list(session.scalars(select(Delivery.state)))
    engine.dispose()
    return states


def test_run_once_alerts_exactly_once_per_match_and_channel(
    empty_db_url: str, tmp_path: Path, servers: tuple[FeedServer, WebhookReceiver, SmtpServer]
) -> None:
    feeds, hook, smtp = servers
    db_url = empty_db_url
    config = write_config(tmp_path / "monitor.yaml", database_url=db_url, server=feeds, hook=hook, smtp=smtp)
    assert monitor(config, "db", "upgrade").returncode == 0

    first = monitor(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert stored_matches(db_url) == EXPECTED
    # 3 matches to the webhook, the 2 strike matches also by email.
    hook.wait_for(3)
    smtp.wait_for(2)
    assert delivery_states(db_url) == ["sent"] * 5
    assert "match  [strikes" in first.stdout and "polled English news" in first.stdout

    titles = sorted(r.json["title"] for r in hook.delivered)
    assert any("SAG-AFTRA strike" in t for t in titles)
    bodies = "\n".join(r.json["message"] for r in hook.delivered)
    assert "https://news.example/en/strike" in bodies
    assert "utm_source" not in bodies  # canonical link, tracking parameters dropped
    assert "English news" in bodies and "Nouvelles" in bodies
    subjects = sorted(str(m["Subject"]) for m in smtp.messages)
    assert len(subjects) == 2 and all("\n" not in s for s in subjects)

    # Nothing new: the feed answers 304, nothing is stored or sent.
    second = monitor(config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert len(hook.requests) == 3 and len(smtp.messages) == 2
    assert stored_matches(db_url) == EXPECTED

    # One new item: exactly its alerts.
    add_new_item(feeds)
    third = monitor(config, "run", "--once")
    assert third.returncode == 0, third.stderr
    assert stored_matches(db_url) == EXPECTED_AFTER_NEW_ITEM
    hook.wait_for(4)
    smtp.wait_for(3)
    assert len(hook.requests) == 4 and len(smtp.messages) == 3

    # The stored matches are queryable, for people and for programs.
    table = monitor(config, "matches", "--topic", "strikes")
    assert table.returncode == 0 and "Video game performers vote to strike" in table.stdout
    lines = monitor(config, "matches", "--format", "json", "--lang", "fr").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["topic"], r["article"]["language"]) for r in records] == [("strikes", "fr")]
    assert records[0]["article"]["feed"]["name"] == "Nouvelles"
    assert "evidence" in records[0] and records[0]["score"] >= 0.5


def test_run_once_with_channel_down_keeps_alerts_pending(
    tmp_path: Path, servers: tuple[FeedServer, WebhookReceiver, SmtpServer]
) -> None:
    feeds, hook, smtp = servers
    db_url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    config = write_config(tmp_path / "monitor.yaml", database_url=db_url, server=feeds, hook=hook, smtp=smtp)
    assert monitor(config, "db", "upgrade").returncode == 0
    hook.stop()
    smtp.stop()
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert sorted(delivery_states(db_url)) == ["pending"] * 5
    hook.start()
    smtp.start()
    import time

    time.sleep(2.5)  # past the test config's 1 s backoff
    again = monitor(config, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert delivery_states(db_url) == ["sent"] * 5
    assert len(hook.delivered) == 3 and len(smtp.messages) == 2
