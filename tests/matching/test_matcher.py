from __future__ import annotations

from pathlib import Path

from monitor.config import load_config_text
from monitor.matching import ArticleText, build_matcher
from monitor.matching.model import load_model

RULES_ONLY = """
model_path: {path}
topics:
  - id: strikes
    name: Strikes
    model: rules
    rules: {{any: [grève, strike], exclude: [Ford]}}
  - id: other
    name: Other
"""


def test_rules_topics_without_artifact(tmp_path: Path) -> None:
    settings = load_config_text(RULES_ONLY.format(path=tmp_path / "missing.json"))
    matcher = build_matcher(settings)
    decisions = matcher.classify(
        [ArticleText("La grève des acteurs", ""), ArticleText("Ford strike", ""), ArticleText("", "")]
    )
    assert [[d.topic_id for d in row] for row in decisions] == [["strikes", "other"]] * 3
    first = decisions[0][0]
    assert first.matched and first.score == 1.0 and first.threshold == 0.5
    assert first.evidence["terms"] == ["grève"]
    assert first.evidence["model_version"] == matcher.version
    assert not decisions[1][0].matched
    assert "Ford" in decisions[1][0].evidence["reason"]
    # A learned topic with no artifact and no rules never matches and says why.
    assert not decisions[0][1].matched
    assert "monitor learn" in decisions[0][1].evidence["reason"]


def test_build_matcher_is_cached_per_settings(tmp_path: Path) -> None:
    settings = load_config_text(RULES_ONLY.format(path=tmp_path / "missing.json"))
    assert build_matcher(settings) is build_matcher(settings)


def test_default_model_is_the_shipped_artifact(tmp_path: Path) -> None:
    from tests.matching.conftest import SHIPPED_MODEL, shipped_settings

    settings = shipped_settings(tmp_path)
    assert not Path(settings.model_path).exists()  # nothing learned here yet
    matcher = build_matcher(settings)
    shipped = load_model(SHIPPED_MODEL)
    assert shipped is not None and matcher.version.startswith(shipped.version)
    assert matcher.version.startswith("tm-")
    (row,) = matcher.classify([ArticleText("Weather", "Rain is expected tomorrow in the north.")])
    assert [d.topic_id for d in row] == ["ai-likeness", "strike-negotiations", "digital-doubles"]
    assert not any(d.matched for d in row)
    assert all(d.evidence["model_version"] == matcher.version and d.evidence["reason"] for d in row)


def test_matcher_survives_fork_safe_reuse(tmp_path: Path) -> None:
    """The matcher pickles nothing and loads the embedder lazily: building it embeds nothing."""
    from monitor.matching import embed
    from tests.matching.conftest import shipped_settings

    before = embed._model
    build_matcher(shipped_settings(tmp_path, poll_interval=61))
    assert embed._model is before
