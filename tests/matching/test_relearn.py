"""The running service re-learns by itself: a new or changed topic at once,
changed feedback at most once per ``learning.interval``; failures are kept
from retrying at every tick; the new model is picked up by its file."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from monitor.matching.feedback import record_feedback
from monitor.matching.relearn import FAILED_SUFFIX, learn_and_write, relearn_reason
from monitor.runtime import Runtime
from monitor.service import EmbeddedService
from monitor.storage import transaction
from monitor.storage.migrate import upgrade
from tests.matching.conftest import PAGES, fixture_topics_config
from tests.matching.test_feedback_backtest import _article
from tests.support.processes import wait_until


def _config(tmp_path: Path, **extra: object) -> Path:
    return fixture_topics_config(tmp_path, learning={"interval": "2s"}, **extra)


def _model(tmp_path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    return data


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_reasons_to_relearn(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = load_config(config)
    model_path = tmp_path / "model.json"
    assert relearn_reason(settings, None, model_path) == "topic avalanche-risk is not learned yet"
    data = learn_and_write(settings).data
    assert relearn_reason(settings, data, model_path) is None

    changed = config.read_text(encoding="utf-8").replace("Avalanche danger", "Avalanches")
    config.write_text(changed, encoding="utf-8")
    assert (
        relearn_reason(load_config(config), data, model_path) == "the inputs of topic avalanche-risk changed"
    )

    off = yaml.safe_load(changed)
    off["learning"]["auto"] = False
    config.write_text(yaml.safe_dump(off), encoding="utf-8")
    assert relearn_reason(load_config(config), data, model_path) is None


def test_a_topic_whose_seed_files_are_not_here_is_not_relearned(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(PAGES), str(tmp_path / "elsewhere")))
    assert relearn_reason(load_config(config), None, tmp_path / "model.json") is None


def test_feedback_relearns_once_per_interval_and_matches_keep_the_deciding_version(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    upgrade(db)
    runtime = Runtime(config)
    service = EmbeddedService(runtime)
    service.run_once()  # the topic is new: learned before classifying
    first = _model(tmp_path)["version"]
    assert runtime.matcher.version.startswith(str(first))

    with transaction(runtime.session_factory) as session:
        article_id = _article(session, "Ski resorts open early", "Snow fell early on the Alps this year.")
        record_feedback(session, article_id, "avalanche-risk", relevant=False)
    _age(tmp_path / "model.json", 0)  # just learned: feedback waits for the interval
    service.run_once()
    assert _model(tmp_path)["version"] == first

    _age(tmp_path / "model.json", 3)  # the interval (2 s) has passed
    service.run_once()
    second = _model(tmp_path)
    assert second["version"] != first and second["inputs"]["feedback"] == 1  # type: ignore[index]
    assert runtime.matcher.version.startswith(str(second["version"]))
    _age(tmp_path / "model.json", 3)
    service.run_once()  # nothing changed since: no re-learn
    assert _model(tmp_path)["version"] == second["version"]
    runtime.close()


def test_a_failed_relearn_is_not_retried_before_the_interval(tmp_path: Path) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text("Accueil | Sport\n", encoding="utf-8")  # no article text: learn refuses it
    config = _config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(PAGES), str(broken)))
    upgrade(f"sqlite:///{tmp_path / 'monitor.sqlite3'}")
    runtime = Runtime(config)
    assert runtime.relearn_if_due() is None
    failed = tmp_path / f"model.json{FAILED_SUFFIX}"
    assert "no article text found" in failed.read_text(encoding="utf-8")
    assert relearn_reason(runtime.settings, None, tmp_path / "model.json") is None  # waits
    _age(failed, 3)
    assert relearn_reason(runtime.settings, None, tmp_path / "model.json") is not None
    runtime.close()


def test_a_topic_added_to_the_yaml_while_the_service_runs_is_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.service

    monkeypatch.setattr(monitor.service, "RELEARN_CHECK_EVERY", 0.2)
    config = _config(tmp_path)
    upgrade(f"sqlite:///{tmp_path / 'monitor.sqlite3'}")
    runtime = Runtime(config)
    service = EmbeddedService(runtime)
    runner = threading.Thread(target=service.run_forever, kwargs={"tick": 0.2}, daemon=True)
    runner.start()
    try:
        wait_until(lambda: (tmp_path / "model.json").exists(), 120, what="the first model")
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["topics"].append(
            {
                "id": "mountain-rescue",
                "name": "Mountain rescue",
                "description": "Rescues of skiers and hikers in the mountains.",
                "seeds": [str(PAGES / "avalanche-2.txt"), str(PAGES / "avalanche-3.html")],
            }
        )
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        stamp = time.time() + 1
        os.utime(config, (stamp, stamp))

        def learned_both() -> bool:
            topics = [t["id"] for t in _model(tmp_path)["topics"]]  # type: ignore[attr-defined]
            return topics == ["avalanche-risk", "mountain-rescue"]

        wait_until(learned_both, 120, what="the added topic learned")
        wait_until(
            lambda: runtime.matcher.version.startswith(str(_model(tmp_path)["version"])),
            30,
            what="the new model in use",
        )
    finally:
        service.stop()
        runner.join(timeout=60)
        runtime.close()
