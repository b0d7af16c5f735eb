from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from monitor.config import KeywordRules, Settings, TopicConfig
from monitor.matching import ArticleText, build_matcher
from monitor.matching.evaluate import Record, evaluate
from monitor.matching.learn import dumps, learn, write_artifact
from monitor.matching.matcher import CombinedMatcher
from monitor.matching.model import dequantize, load_model, quantize
from tests.matching.conftest import SEEDS, SHIPPED_MODEL, topics_settings

SEED_TEXT = (
    "Le syndicat des comédiens a voté la grève contre les studios après l'échec des négociations. "
    "Les piquets de grève se sont formés devant les studios dès le lendemain matin, et les tournages "
    "se sont arrêtés. Les producteurs disent avoir fait une offre généreuse, refusée par le syndicat.\n\n"
    "La recette du jour : une tarte aux pommes avec une pâte brisée, du beurre et de la cannelle. "
    "Il faut cuire la tarte quarante minutes à four chaud, puis la laisser refroidir avant de la servir "
    "avec une boule de glace à la vanille et quelques amandes grillées."
)

TOPICS = (
    TopicConfig(id="strikes", name="Strikes", description="Actors strike against studios."),
    TopicConfig(id="food", name="Food", description="Cooking recipes and restaurants."),
)


def _seeds_dir(tmp_path: Path, example: str = "Bakers share a recipe for apple pie.") -> tuple[Path, Path]:
    seeds, texts = tmp_path / "seeds", tmp_path / "texts"
    seeds.mkdir()
    texts.mkdir()
    (texts / "s1.txt").write_text(SEED_TEXT, encoding="utf-8")
    (seeds / "manifest.yaml").write_text(
        "seeds:\n  - file: s1.txt\n    lang: fr\n    passages: {'1': [strikes], '2': [food]}\n",
        encoding="utf-8",
    )
    (seeds / "examples.yaml").write_text(
        "examples:\n"
        "  - {topics: [strikes], text: 'Hollywood actors walk out as union talks with studios fail.'}\n"
        f"  - {{topics: [food], text: '{example}'}}\n"
        "  - {topics: [], text: 'The football team won the league title on Sunday.'}\n",
        encoding="utf-8",
    )
    (seeds / "lexicon.yaml").write_text(
        "groups:\n  strike: [greve*, strike*, union]\n  food: [recipe*, recette*, cuisine]\n"
        "topics:\n  strikes: {evidence: [[strike]], gate: [strike]}\n"
        "  food: {evidence: [[food]], gate: [food]}\n",
        encoding="utf-8",
    )
    return seeds, texts


def test_learn_is_reproducible_and_versioned_by_inputs(tmp_path: Path) -> None:
    seeds, texts = _seeds_dir(tmp_path)
    first = dumps(learn(TOPICS, seeds, seeds_text=texts))
    second = dumps(learn(TOPICS, seeds, seeds_text=texts))
    assert first == second
    data = json.loads(first)
    assert data["version"].startswith("tm-")
    assert "tarte" not in first.decode()  # seed text is not copied into the artifact
    (seeds / "examples.yaml").write_text(
        (seeds / "examples.yaml").read_text().replace("apple pie", "plum cake")
    )
    assert json.loads(dumps(learn(TOPICS, seeds, seeds_text=texts)))["version"] != data["version"]


def test_artifact_scores_without_seed_texts_and_explains(tmp_path: Path) -> None:
    seeds, texts = _seeds_dir(tmp_path)
    path = tmp_path / "model.json"
    write_artifact(learn(TOPICS, seeds, seeds_text=texts), path)
    shutil.rmtree(texts)
    model = load_model(path)
    assert model is not None
    matcher = CombinedMatcher(TOPICS, model)
    strike, food, other = matcher.classify(
        [
            ArticleText("Les acteurs en grève", "Le syndicat refuse l'offre des studios."),
            ArticleText("A new recipe", "How to bake an apple tart with cinnamon."),
            ArticleText("Weather", "Sunny spells and light winds tomorrow."),
        ]
    )
    assert [d.matched for d in strike] == [True, False]
    assert [d.matched for d in food] == [False, True]
    evidence = strike[0].evidence
    assert evidence["nearest_passage"]["seed"] == "s1.txt"
    assert evidence["nearest_passage"]["passage"] == 1
    assert "greve" in " ".join(evidence["terms"])
    assert evidence["model_version"] == matcher.version
    assert evidence["reason"].startswith("matches")
    # the cheap stage: no topic vocabulary, not embedded, score 0
    assert all(d.score == 0.0 and not d.matched for d in other)
    assert other[0].evidence["embedded"] is False


def test_keyword_rules_gate_the_learned_model(tmp_path: Path) -> None:
    seeds, texts = _seeds_dir(tmp_path)
    path = tmp_path / "model.json"
    write_artifact(learn(TOPICS, seeds, seeds_text=texts), path)
    gated = (TOPICS[0].model_copy(update={"rules": KeywordRules(exclude=("ford",))}), TOPICS[1])
    settings = Settings(model_path=str(path), topics=gated)
    (row,) = build_matcher(settings).classify([ArticleText("Grève chez Ford", "Le syndicat refuse l'offre.")])
    assert not row[0].matched and row[0].score == 0.0
    assert row[0].evidence["model_score"] > 0.5
    assert "veto" in row[0].evidence["reason"]


def test_quantised_vectors_round_trip() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    v = rng.normal(0, 0.05, size=(3, 384)).astype(np.float32)
    back = dequantize(quantize(v))
    assert np.abs(back - v).max() <= 1 / 512 + 1e-6


def test_shipped_artifact_is_what_learn_builds(seeds_text_dir: Path) -> None:
    """seeds/model.json must be rebuilt whenever its inputs change."""
    settings = topics_settings()
    built = dumps(learn(settings.topics, SEEDS, seeds_text=seeds_text_dir))
    assert built == SHIPPED_MODEL.read_bytes()


@pytest.fixture(scope="module")
def shipped_eval(dev_records: list[Record]) -> dict[str, object]:
    settings = topics_settings(model_path=str(SHIPPED_MODEL))
    return evaluate(build_matcher(settings), dev_records, [t.id for t in settings.topics])


def test_shipped_model_meets_the_dev_targets(shipped_eval: dict[str, object]) -> None:
    result: dict[str, object] = shipped_eval
    assert result["n"] == 95
    assert result["macro_f1"] >= 0.85  # type: ignore[operator]
    assert all(t["f1"] >= 0.80 for t in result["topics"].values())  # type: ignore[attr-defined]
    assert result["by_lang"]["en"]["macro_f1"] >= 0.80  # type: ignore[index]
    assert result["by_lang"]["fr"]["macro_f1"] >= 0.80  # type: ignore[index]
    assert result["borderline"]["n"] == 5  # type: ignore[index]
