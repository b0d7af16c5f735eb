"""``monitor learn`` and the artifact it writes: reproducible, self-contained, explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.config import load_config
from monitor.matching import ArticleText, build_matcher
from monitor.matching.artifact import dumps
from monitor.matching.evaluate import Record, evaluate
from monitor.matching.inputs import FeedbackExample, LearnError
from monitor.matching.learn import learn
from monitor.matching.model import dequantize, load_model, quantize
from monitor.matching.relearn import learn_and_write
from tests.matching.conftest import (
    PAGES,
    SHIPPED_MODEL,
    SHIPPED_TOPICS,
    fixture_topics_config,
    shipped_config,
    shipped_settings,
)

AVALANCHE_EN = ArticleText(
    "Two skiers caught in an avalanche above Chamonix",
    "Rescuers dug both out alive after the slide; the avalanche risk was rated four out of five.",
    "en",
)
ORDINARY_EN = ArticleText(
    "Central bank holds rates",
    "The euro-area central bank kept its rates unchanged as inflation eased.",
    "en",
)


def test_learn_is_reproducible_and_versioned_by_inputs(tmp_path: Path) -> None:
    settings = load_config(fixture_topics_config(tmp_path))
    first = dumps(learn(settings.topics, settings.resolve_path))
    assert dumps(learn(settings.topics, settings.resolve_path)) == first
    changed = settings.topics[0].model_copy(update={"description": "Avalanches in the Alps."})
    other = learn([changed], settings.resolve_path)
    assert other["version"] != json.loads(first)["version"]
    judged = FeedbackExample(1, "avalanche-risk", False, "Ski resorts open early after a snowy November.")
    with_feedback = learn(settings.topics, settings.resolve_path, feedback=[judged])
    assert with_feedback["version"] not in (json.loads(first)["version"], other["version"])
    assert with_feedback["inputs"]["feedback"] == 1


def test_the_artifact_scores_without_the_seed_files_and_explains(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    shutil.copytree(PAGES, pages)
    config = fixture_topics_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(PAGES), str(pages)), encoding="utf-8")
    settings = load_config(config)
    learned = learn_and_write(settings)
    shutil.rmtree(pages)  # what ships is the artifact, not the texts

    matcher = build_matcher(settings)
    assert matcher.version.startswith(learned.data["version"])
    ((avalanche,),), ((ordinary,),) = matcher.classify([AVALANCHE_EN]), matcher.classify([ORDINARY_EN])
    assert avalanche.matched and avalanche.threshold == 0.5
    evidence = avalanche.evidence
    assert "avalanche" in [t.lower() for t in evidence["terms"]]
    assert evidence["nearest_passage"]["seed"] in {p.name for p in PAGES.iterdir()}
    assert evidence["model_version"] == matcher.version and evidence["reason"].startswith("matches")
    # Ordinary news opens no gate: never embedded, scored 0 and said so.
    assert not ordinary.matched and ordinary.score == 0.0 and not ordinary.evidence["embedded"]


def test_what_learn_reports_per_topic(tmp_path: Path) -> None:
    settings = load_config(fixture_topics_config(tmp_path))
    data = learn(settings.topics, settings.resolve_path)
    (topic,) = data["topics"]
    assert [s["file"] for s in topic["seeds"]] == sorted(p.name for p in PAGES.iterdir())
    assert all(0 < s["kept"] <= s["passages"] for s in topic["seeds"])
    assert topic["vocabulary"]["fr"]["gate"] and topic["vocabulary"]["en"]["gate"]
    assert topic["classifier"]["center"] == pytest.approx(
        topic["classifier"]["calibration"]["center"], abs=1e-3
    )


def test_a_missing_seed_file_is_named(tmp_path: Path) -> None:
    config = fixture_topics_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(PAGES), str(tmp_path / "gone")))
    settings = load_config(config)
    with pytest.raises(LearnError, match=r"topic avalanche-risk: .*gone: no such file or folder"):
        learn(settings.topics, settings.resolve_path)


def test_a_seed_that_is_only_page_clutter_is_refused(tmp_path: Path) -> None:
    clutter = tmp_path / "menu.txt"
    clutter.write_text("Accueil | Actualités | Sport\nNewsletter\n[Je m'inscris]\n", encoding="utf-8")
    config = fixture_topics_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(PAGES), str(clutter)))
    settings = load_config(config)
    with pytest.raises(LearnError, match=r"menu\.txt: no article text found"):
        learn(settings.topics, settings.resolve_path)


def test_keyword_rules_gate_the_learned_model(tmp_path: Path) -> None:
    config = fixture_topics_config(tmp_path)
    learn_and_write(load_config(config))
    text = config.read_text(encoding="utf-8").replace(
        "  seeds:", "  rules:\n    exclude: [Chamonix]\n  seeds:"
    )
    config.write_text(text, encoding="utf-8")
    (decision,) = build_matcher(load_config(config)).classify([AVALANCHE_EN])[0]
    assert not decision.matched and decision.score == 0.0
    assert decision.evidence["model_score"] > 0.5
    assert "veto" in decision.evidence["reason"]


def test_quantised_vectors_round_trip() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    back = dequantize(quantize(v))
    assert np.abs(back - v).max() <= 1 / 512 + 1e-6


def _learned_terms(entry: dict[str, Any], lang: str) -> set[str]:
    vocabulary = entry["vocabulary"][lang]
    return set(vocabulary["gate"]) | set(vocabulary["evidence"])


def test_shipped_artifact_is_what_learn_builds(tmp_path: Path) -> None:
    """monitor/seeds/model.json must be rebuilt whenever its inputs or the
    learner change: `monitor --config monitor.yaml learn -o monitor/seeds/model.json`.

    On the machine that built it the bytes are equal. On another CPU the
    encoder's floating point moves vectors by about 1e-3 (measured: a
    centre by 0.0002, one more English evidence term), so there the check
    is what the bytes stand for: the same version (inputs and learner
    settings), and per topic the same formula and seeds, nearly the same
    passages kept, terms and centre."""
    learned = learn_and_write(shipped_settings(tmp_path), output=tmp_path / "built.json")
    built_bytes = (tmp_path / "built.json").read_bytes()
    if built_bytes == SHIPPED_MODEL.read_bytes():
        return
    built, shipped = json.loads(built_bytes), json.loads(SHIPPED_MODEL.read_bytes())
    assert built["version"] == shipped["version"], "inputs changed: rebuild monitor/seeds/model.json"
    assert built["knobs"] == shipped["knobs"] and built["background"] == shipped["background"]
    assert [t["id"] for t in built["topics"]] == [t["id"] for t in shipped["topics"]]
    for mine, theirs in zip(built["topics"], shipped["topics"], strict=True):
        assert mine["formula"] == theirs["formula"], mine["id"]
        assert [s["file"] for s in mine["seeds"]] == [s["file"] for s in theirs["seeds"]]
        for a, b in zip(mine["seeds"], theirs["seeds"], strict=True):
            assert abs(a["kept"] - b["kept"]) <= 1, (mine["id"], a, b)
        for lang in ("en", "fr"):
            ours, shipped_terms = _learned_terms(mine, lang), _learned_terms(theirs, lang)
            overlap = len(ours & shipped_terms) / max(1, len(ours | shipped_terms))
            assert overlap >= 0.85, (mine["id"], lang, sorted(ours ^ shipped_terms), learned.data["version"])
        centre, shipped_centre = mine["classifier"]["center"], theirs["classifier"]["center"]
        assert abs(centre - shipped_centre) <= 0.05 * max(abs(shipped_centre), 0.01), mine["id"]


@pytest.fixture(scope="module")
def shipped_eval(dev_records: list[Record], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    settings = shipped_settings(tmp_path_factory.mktemp("shipped"))
    model = load_model(SHIPPED_MODEL)
    assert model is not None and build_matcher(settings).version.startswith(model.version)
    return evaluate(build_matcher(settings), dev_records, SHIPPED_TOPICS)


def test_shipped_model_meets_the_dev_floor(shipped_eval: dict[str, object]) -> None:
    """A floor, not the figure: docs/classification.md has the measured one."""
    result: dict[str, object] = shipped_eval
    assert result["n"] == 95
    assert result["macro_f1"] >= 0.85  # type: ignore[operator]
    assert all(t["f1"] >= 0.75 for t in result["topics"].values())  # type: ignore[attr-defined]
    assert result["by_lang"]["en"]["macro_f1"] >= 0.80  # type: ignore[index]
    assert result["by_lang"]["fr"]["macro_f1"] >= 0.80  # type: ignore[index]
    assert result["borderline"]["n"] == 5  # type: ignore[index]


def test_the_config_names_seeds_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    config = shipped_config(tmp_path)
    settings = load_config(config)
    assert settings.resolve_path("examples") == tmp_path / "examples"
    assert settings.resolve_path("/abs/x.txt") == Path("/abs/x.txt")
