from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.storage import Base, Feedback, create_db_engine, make_session_factory, transaction
from tests.matching.conftest import SEEDS, SHIPPED_MODEL
from tests.matching.test_feedback_backtest import _article


def _config(tmp_path: Path, model: Path = SHIPPED_MODEL) -> tuple[Path, str]:
    data = yaml.safe_load((SEEDS / "topics.example.yaml").read_text(encoding="utf-8"))
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    data.update(model_path=str(model), database_url=url)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
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


def test_feedback_command_and_learn_output(tmp_path: Path, seeds_text_dir: Path) -> None:
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

    out = tmp_path / "model.json"
    learned = runner.invoke(
        main, ["--config", str(config), "learn", "--seeds-text", str(seeds_text_dir), "-o", str(out)]
    )
    assert learned.exit_code == 0, learned.output
    assert "1 feedback" in learned.output
    assert json.loads(out.read_text())["inputs"]["feedback"] == 1


def test_backtest_command(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    result = CliRunner().invoke(main, ["--config", str(config), "backtest", "ai-likeness", "--since", "7d"])
    assert result.exit_code == 0, result.output
    assert "0 articles" in result.output
    unknown = CliRunner().invoke(main, ["--config", str(config), "backtest", "nope"])
    assert unknown.exit_code == 2
