from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.storage import Base, Feedback, create_db_engine, make_session_factory, transaction
from tests.matching.conftest import fixture_topics_config, shipped_config
from tests.matching.test_feedback_backtest import _article


def _config(tmp_path: Path) -> tuple[Path, str]:
    """The shipped topics with a database (the shipped model: nothing learned yet)."""
    path = shipped_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return path, url


def test_classify_argument_stdin_and_json(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    runner = CliRunner()
    text = "Des figurants scannés pour un jour de salaire : le studio garde leur double numérique."
    plain = runner.invoke(main, ["--config", str(config), "classify", text])
    assert plain.exit_code == 0, plain.output
    assert "MATCH digital-doubles" in plain.output
    assert "nearest seed passage: 00" in plain.output
    piped = runner.invoke(main, ["--config", str(config), "classify", "--json"], input=text)
    assert piped.exit_code == 0, piped.output
    data = json.loads(piped.output)
    by_topic = {t["topic"]: t for t in data["topics"]}
    assert list(by_topic) == ["ai-likeness", "strike-negotiations", "digital-doubles"]
    dd = by_topic["digital-doubles"]
    assert dd["matched"] and 0.0 <= dd["score"] <= 1.0 and dd["threshold"] == 0.5
    assert {"terms", "nearest_passage", "model_version", "reason"} <= set(dd["evidence"])


def test_eval_json_shape(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    records = [
        {
            "id": "a",
            "lang": "en",
            "title": "SAG-AFTRA strike",
            "summary": "Actors strike against studios.",
            "labels": ["strike-negotiations"],
            "borderline": False,
        },
        {
            "id": "b",
            "lang": "fr",
            "title": "Football",
            "summary": "L'équipe a gagné la finale.",
            "labels": [],
            "borderline": False,
        },
        {
            "id": "c",
            "lang": "fr",
            "title": "Grève",
            "summary": "Grève des acteurs.",
            "labels": ["strike-negotiations"],
            "borderline": True,
        },
    ]
    data_file = tmp_path / "set.jsonl"
    data_file.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "eval", str(data_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["n"] == 2
    assert set(data["topics"]) == {"ai-likeness", "strike-negotiations", "digital-doubles"}
    strike = data["topics"]["strike-negotiations"]
    assert set(strike) >= {"precision", "recall", "f1", "tp", "fp", "fn"}
    assert (strike["tp"], strike["fp"], strike["fn"]) == (1, 0, 0)
    assert isinstance(data["macro_f1"], float) and isinstance(data["micro_f1"], float)
    assert set(data["by_lang"]) == {"en", "fr"} and "macro_f1" in data["by_lang"]["fr"]
    assert data["articles_per_second"] > 0
    assert data["borderline"]["n"] == 1


def test_feedback_command(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        article_id = _article(session, "Box office", "The sequel topped the weekend box office.")
    runner = CliRunner()
    args = ["--config", str(config), "feedback", str(article_id), "strike-negotiations", "--not-relevant"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with factory() as session:
        (row,) = session.execute(select(Feedback)).scalars()
        assert (row.article_id, row.relevant) == (article_id, False)
    engine.dispose()
    bad = runner.invoke(
        main, ["--config", str(config), "feedback", "999", "strike-negotiations", "--relevant"]
    )
    assert bad.exit_code == 1 and "no article" in bad.output


def test_learn_prints_what_it_learned_and_topics_show_reads_it_back(tmp_path: Path) -> None:
    config = fixture_topics_config(tmp_path)
    runner = CliRunner()
    learned = runner.invoke(main, ["--config", str(config), "learn"])
    assert learned.exit_code == 0, learned.output
    text = learned.output
    assert "avalanche-risk  (Avalanche danger)" in text
    assert "passages kept" in text and "gate fr:" in text and "gate en:" in text
    assert "threshold:      0.50 on the score" in text
    assert f"wrote {tmp_path / 'model.json'}" in text
    # Piped (CliRunner is no terminal): no progress bar on stderr.
    assert "\r" not in learned.stderr

    as_json = runner.invoke(main, ["--config", str(config), "learn", "--json"])
    report = json.loads(as_json.stdout)
    (topic,) = report["topics"]
    assert topic["id"] == "avalanche-risk" and topic["threshold"] == 0.5
    assert topic["gate"]["fr"] and topic["gate"]["en"] and topic["passages_kept"] > 0
    assert report["lexicon"] is False and report["feedback"] == 0

    shown = runner.invoke(main, ["--config", str(config), "topics", "show", "avalanche-risk", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == topic
    plain = runner.invoke(main, ["--config", str(config), "topics", "show", "avalanche-risk"])
    assert f"model:          {report['model_version']}" in plain.output
    unknown = runner.invoke(main, ["--config", str(config), "topics", "show", "nope"])
    assert unknown.exit_code == 2


def test_learn_without_the_lexicon(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "learn", "--no-lexicon", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["lexicon"] is False
    assert all(not t["curated_gate"] for t in report["topics"])
    assert all(t["gate"]["en"] and t["gate"]["fr"] for t in report["topics"])


def test_eval_of_some_topics_only(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    records = tmp_path / "labelled.jsonl"
    records.write_text(
        json.dumps(
            {
                "id": "a",
                "lang": "en",
                "title": "SAG-AFTRA strike",
                "summary": "Actors strike against studios.",
                "labels": ["strike-negotiations"],
                "borderline": False,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", str(config), "eval", str(records), "--topics", "strike-negotiations", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["topics"]) == ["strike-negotiations"]
    assert {"macro_f1", "by_lang", "topics", "articles_per_second"} <= set(data)
    wrong = runner.invoke(main, ["--config", str(config), "eval", str(records), "--topics", "nope"])
    assert wrong.exit_code == 2 and "unknown topic(s) nope" in wrong.output


def test_eval_of_a_topic_not_learned_yet_says_so(tmp_path: Path) -> None:
    """A topic added to the config but not learned would score F1 0 as if the
    classifier had failed: eval refuses it and says what to run."""
    import yaml

    config, _ = _config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["topics"].append(
        {"id": "avalanches", "name": "Avalanches", "description": "Avalanches in the Alps.", "seeds": []}
    )
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    records = tmp_path / "labelled.jsonl"
    records.write_text(
        json.dumps(
            {"id": "a", "lang": "en", "title": "Avalanche", "summary": "Snow.", "labels": ["avalanches"]}
        )
        + "\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    refused = runner.invoke(main, ["--config", str(config), "eval", str(records), "--topics", "avalanches"])
    assert refused.exit_code == 2
    assert "topic(s) avalanches not in the topic model tm-" in refused.output
    assert "run `monitor learn` first" in refused.output
    # The learned topics alone are still scored.
    kept = runner.invoke(
        main, ["--config", str(config), "eval", str(records), "--topics", "strike-negotiations", "--json"]
    )
    assert kept.exit_code == 0, kept.output


def test_backtest_command(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    result = CliRunner().invoke(main, ["--config", str(config), "backtest", "ai-likeness", "--since", "7d"])
    assert result.exit_code == 0, result.output
    assert "0 articles" in result.output
    unknown = CliRunner().invoke(main, ["--config", str(config), "backtest", "nope"])
    assert unknown.exit_code == 2


def test_topics_show_of_the_shipped_model_names_its_hand_written_gate(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "topics", "show", "strike-negotiations", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # The shipped model was learned with our lexicon: its gate is ours, shown as such.
    assert summary["curated_gate"] and all(isinstance(conj, list) for conj in summary["curated_gate"])
    assert summary["gate"]["en"] and summary["gate"]["fr"]
    plain = runner.invoke(main, ["--config", str(config), "topics", "show", "strike-negotiations"])
    assert "gate (hand-written lexicon): " in plain.output
