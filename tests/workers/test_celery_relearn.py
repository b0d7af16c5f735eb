"""Distributed mode re-learns by itself: beat asks (``monitor.relearn``), a
worker learns a new topic and, after feedback, learns again; the workers'
matchers pick up the new file. Real processes, Redis and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml

from monitor.config import load_config
from monitor.matching import build_matcher
from monitor.matching.feedback import record_feedback
from monitor.storage import create_db_engine, make_session_factory, transaction
from tests.conftest import REDIS_URL
from tests.matching.conftest import fixture_topics_config
from tests.matching.test_feedback_backtest import _article
from tests.support.databases import migrated_schema
from tests.support.processes import start_beat, start_worker, stop, wait_until


def _version(model: Path) -> str | None:
    if not model.exists():
        return None
    return str(json.loads(model.read_text(encoding="utf-8"))["version"])


def test_beat_and_worker_relearn_a_new_topic_then_after_feedback(postgres_url: str, tmp_path: Path) -> None:
    migrated_schema(postgres_url)
    config = fixture_topics_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.update(
        database_url=postgres_url,
        broker_url=REDIS_URL,
        learning={"interval": "2s"},
        workers={"queue": f"monitor-test-{uuid.uuid4().hex[:8]}", "beat_tick": "1s", "relearn_check": "1s"},
    )
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    model = tmp_path / "model.json"
    log = tmp_path / "celery.log"
    worker = start_worker(config, log, concurrency=1)
    beat = start_beat(config, log, tmp_path / "beat-schedule")
    try:
        wait_until(lambda: _version(model) is not None, 240, interval=1, what="the new topic learned")
        first = _version(model)
        engine = create_db_engine(postgres_url)
        with transaction(make_session_factory(engine)) as session:
            article_id = _article(session, "Ski resorts open early", "Snow fell early on the Alps this year.")
            record_feedback(session, article_id, "avalanche-risk", relevant=False)
        engine.dispose()
        wait_until(lambda: _version(model) not in (None, first), 240, interval=1, what="the re-learn")
        learned = json.loads(model.read_text(encoding="utf-8"))
        assert learned["inputs"]["feedback"] == 1
        # A process that scores articles now uses it.
        assert build_matcher(load_config(config)).version.startswith(learned["version"])
    finally:
        stop(beat)
        stop(worker)
    text = log.read_text(errors="replace")
    assert "re-learned the topic model" in text
    assert "Traceback" not in text, text[-3000:]
