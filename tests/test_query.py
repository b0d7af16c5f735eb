"""Querying stored matches: filters, formats, the CLI and the HTTP API,
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import main
from monitor.config import load_config_text
from monitor.query import parse_when
from monitor.storage import Article, Feed, Match
from monitor.storage.views import MatchFilter, find_matches
from monitor.web.app import create_app

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def populated(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_factory.begin() as session:
        variety = Feed(
            url="https://variety.example/feed",
            name="Variety",
            interval_seconds=60,
            status="active",
            consecutive_errors=0,
            poll_attempts=0,
        )
        monde = Feed(
            url="https://lemonde.example/rss",
            name="Le Monde",
            interval_seconds=60,
            status="active",
            consecutive_errors=0,
            poll_attempts=0,
        )
        session.add_all([variety, monde])
        session.flush()
        rows = [
            (
                variety,
                "SAG-AFTRA strike ends after 118 days",
                "en",
                "strike-negotiations",
                0.91,
                NOW - timedelta(hours=2),
            ),
            (
                variety,
                "Studios scan extras for digital replicas",
                "en",
                "digital-doubles",
                0.74,
                NOW - timedelta(days=3),
            ),
            (
                monde,
                "Grève : les acteurs d'Hollywood signent un accord",
                "fr",
                "strike-negotiations",
                0.66,
                NOW - timedelta(hours=30),
            ),
            (
                monde,
                "Voix clonées : les comédiens de doublage inquiets",
                "fr",
                "ai-likeness",
                0.58,
                NOW - timedelta(days=10),
            ),
        ]
        for index, (feed, title, lang, topic, score, when) in enumerate(rows):
            article = Article(
                feed_id=feed.id,
                item_key=f"k{index}",
                title=title,
                summary=f"summary of {title}",
                link=f"https://x.example/{index}",
                language=lang,
                published_at=when,
                fetched_at=when,
                content_hash=str(index),
                classified_at=when,
            )
            session.add(article)
            session.flush()
            session.add(
                Match(
                    article_id=article.id,
                    topic_id=topic,
                    score=score,
                    evidence={"reason": f"because {index}", "terms": ["strike"]},
                    model_version="test",
                    created_at=when,
                )
            )
    return session_factory


def titles(factory: sessionmaker[Session], **kwargs: object) -> list[str]:
    with factory() as session:
        return [row.title for row in find_matches(session, MatchFilter(**kwargs))]  # type: ignore[arg-type]


def test_filters(populated: sessionmaker[Session]) -> None:
    assert len(titles(populated)) == 4
    assert titles(populated, topic=("strike-negotiations",)) == [
        "SAG-AFTRA strike ends after 118 days",
        "Grève : les acteurs d'Hollywood signent un accord",
    ]
    assert titles(populated, since=NOW - timedelta(days=2)) == [
        "SAG-AFTRA strike ends after 118 days",
        "Grève : les acteurs d'Hollywood signent un accord",
    ]
    assert titles(populated, until=NOW - timedelta(days=5)) == [
        "Voix clonées : les comédiens de doublage inquiets"
    ]
    assert titles(populated, lang="fr", min_score=0.6) == [
        "Grève : les acteurs d'Hollywood signent un accord"
    ]
    assert titles(populated, feed="monde") == [
        "Grève : les acteurs d'Hollywood signent un accord",
        "Voix clonées : les comédiens de doublage inquiets",
    ]
    assert titles(populated, search="DIGITAL replicas") == ["Studios scan extras for digital replicas"]
    assert titles(populated, search="100%") == []  # LIKE wildcards are literal
    assert len(titles(populated, limit=1)) == 1


def test_parse_when() -> None:
    assert parse_when("24h", now=NOW) == NOW - timedelta(hours=24)
    assert parse_when("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_when("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_when("2026-11-20", end_of_day=True).date().isoformat() == "2026-11-20"
    with pytest.raises(ValueError, match="not a time"):
        parse_when("yesterday-ish")


def config_file(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"database_url: '{db_url}'\n", encoding="utf-8")
    return path


def test_cli_formats(populated: sessionmaker[Session], db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    config = str(config_file(tmp_path, db_url))
    table = runner.invoke(main, ["--config", config, "matches", "--topic", "strike-negotiations"])
    assert table.exit_code == 0, table.output
    assert "SAG-AFTRA strike ends after 118 days" in table.output
    assert "because 0" in table.output  # the evidence line

    out = runner.invoke(main, ["--config", config, "matches", "--format", "json", "--lang", "en"])
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["article"]["title"] for r in records] == [
        "SAG-AFTRA strike ends after 118 days",
        "Studios scan extras for digital replicas",
    ]
    assert records[0]["topic"] == "strike-negotiations" and records[0]["evidence"]["terms"] == ["strike"]
    assert records[0]["article"]["feed"] == {"name": "Variety", "url": "https://variety.example/feed"}

    out = runner.invoke(main, ["--config", config, "matches", "--format", "csv", "--min-score", "0.7"])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["title"] for r in rows] == [
        "SAG-AFTRA strike ends after 118 days",
        "Studios scan extras for digital replicas",
    ]

    bad = runner.invoke(main, ["--config", config, "matches", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_http_api(populated: sessionmaker[Session], db_url: str) -> None:
    settings = load_config_text(
        f"database_url: '{db_url}'\nchannels:\n  - name: slack\n    url: slack://T000/B000/SECRETTOKEN\n"
        "topics:\n  - id: strike-negotiations\n    name: Strikes\n    channels: [slack]\n"
    )
    client = TestClient(create_app(settings))
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    body = client.get("/api/v1/matches", params={"topic": "strike-negotiations", "lang": "fr"}).json()
    assert body["count"] == 1
    assert body["matches"][0]["article"]["title"] == "Grève : les acteurs d'Hollywood signent un accord"
    assert client.get("/api/v1/matches", params={"since": "soon"}).status_code == 422
    topics = client.get("/api/v1/topics").text
    assert "slack" in topics and "SECRETTOKEN" not in topics
    deliveries = client.get("/api/v1/deliveries").json()
    assert deliveries["counts"] == {"pending": 0, "sending": 0, "sent": 0, "dead": 0, "held": 0, "dropped": 0}


def test_search_folds_accented_capitals_on_both_dialects(populated: sessionmaker[Session]) -> None:
    assert titles(populated, search="GRÈVE") == ["Grève : les acteurs d'Hollywood signent un accord"]
    assert titles(populated, search="VOIX CLONÉES") == ["Voix clonées : les comédiens de doublage inquiets"]


def test_far_times_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too far back"):
        parse_when("9999999w", now=NOW)


def test_evidence_line_says_whether_the_page_was_read() -> None:
    from monitor.query import evidence_line

    read = {
        "reason": "matches (0.81 vs 0.50): near seed 2",
        "full_text": "full text: 2,312 characters from the article's page",
    }
    assert evidence_line(read) == (
        "matches (0.81 vs 0.50): near seed 2 [full text: 2,312 characters from the article's page]"
    )
    assert evidence_line({"terms": ["strike"], "full_text": "full text: page not fetched: HTTP 404"}) == (
        "terms: strike [full text: page not fetched: HTTP 404]"
    )
    assert evidence_line({"reason": "rules met"}) == "rules met"
