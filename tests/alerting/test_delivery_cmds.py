"""``monitor deliveries`` and ``monitor deliveries retry``, on both dialects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import main
from monitor.storage import Delivery

MakeDelivery = Callable[..., int]


def _config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"database_url: '{db_url}'\n", encoding="utf-8")
    return path


def test_list_and_retry(
    tmp_path: Path,
    db_url: str,
    session_factory: sessionmaker[Session],
    make_delivery: MakeDelivery,
) -> None:
    config = _config(tmp_path, db_url)
    pending = make_delivery(title="Ordinary \x1b[31mred\x1b[0m title\r\nwith CR/LF")
    dead = make_delivery(title="A dead one")
    with session_factory() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id == dead)
            .values(
                state="dead",
                attempts=8,
                last_error="FAILURE: see json://user:Sup3rSecret-pw@hooks.example.com/T0kenPath-1234",
            )
        )
    runner = CliRunner()

    result = runner.invoke(main, ["--config", str(config), "deliveries"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["ID", "STATE", "TRIES", "CHANNEL", "TOPIC"]
    assert len(lines) == 3
    assert "\x1b" not in result.output
    assert "Sup3rSecret" not in result.output and "T0kenPath" not in result.output

    result = runner.invoke(
        main, ["--config", str(config), "deliveries", "--state", "dead", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [dead]
    row = rows[0]
    assert (row["state"], row["attempts"], row["channel"], row["topic"]) == ("dead", 8, "hook", "strikes")
    assert row["title"] == "A dead one"
    assert row["last_error"] == "FAILURE: see json://hooks.example.com/****"
    assert row["dedupe_key"].startswith("match-")

    result = runner.invoke(main, ["--config", str(config), "deliveries", "--format", "json", "--limit", "1"])
    assert [r["id"] for r in json.loads(result.output)] == [dead]  # newest first

    result = runner.invoke(main, ["--config", str(config), "deliveries", "retry"])
    assert result.exit_code == 2
    assert "--all-dead" in result.output

    result = runner.invoke(main, ["--config", str(config), "deliveries", "retry", str(pending), str(dead)])
    assert result.exit_code == 0, result.output
    assert "1 dead delivery reset to pending" in result.output

    result = runner.invoke(
        main, ["--config", str(config), "deliveries", "--state", "pending", "--format", "json"]
    )
    rows = json.loads(result.output)
    assert sorted(r["id"] for r in rows) == sorted([pending, dead])
    assert all(r["attempts"] == 0 or r["id"] == pending for r in rows)

    result = runner.invoke(main, ["--config", str(config), "deliveries", "retry", "--all-dead"])
    assert result.exit_code == 0
    assert "0 dead deliveries reset to pending" in result.output

    result = runner.invoke(main, ["--config", str(config), "deliveries", "--state", "sent"])
    assert result.exit_code == 0
    assert "no deliveries in state sent" in result.output
