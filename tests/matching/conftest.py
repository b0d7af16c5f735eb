from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import resources
from monitor.config import Settings, load_config
from monitor.matching.evaluate import Record, read_records
from tests.conftest import REPO_ROOT, shared_path

SEEDS = resources.seeds_dir()
SHIPPED_MODEL = SEEDS / "model.json"
PAGES = Path(__file__).parent / "fixtures" / "pages"
SHIPPED_TOPICS = ["ai-likeness", "strike-negotiations", "digital-doubles"]


def shipped_config(directory: Path, **extra: Any) -> Path:
    """A config with the three shipped topics as ``monitor.yaml`` has them:
    their seed articles (../shared/seeds), our lexicon and examples; its own
    database and model file in ``directory`` (until the model is learned,
    the shipped one is used)."""
    data = yaml.safe_load((REPO_ROOT / "monitor.yaml").read_text(encoding="utf-8"))
    topics = data["topics"]
    for topic in topics:
        topic["seeds"] = [str(shared_path("seeds", Path(seed).name)) for seed in topic["seeds"]]
    config = {
        "database_url": f"sqlite:///{directory / 'monitor.sqlite3'}",
        "model_path": str(directory / "model.json"),
        "learning": {"lexicon": str(SEEDS / "lexicon.yaml"), "examples": str(SEEDS / "examples.yaml")},
        "topics": topics,
        **extra,
    }
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def shipped_settings(directory: Path, **extra: Any) -> Settings:
    return load_config(shipped_config(directory, **extra))


def fixture_topics_config(directory: Path, **extra: Any) -> Path:
    """A small config learned in seconds: avalanche danger, from the saved
    pages in fixtures/pages (French, with their page clutter)."""
    config = {
        "database_url": f"sqlite:///{directory / 'monitor.sqlite3'}",
        "model_path": str(directory / "model.json"),
        "topics": [
            {
                "id": "avalanche-risk",
                "name": "Avalanche danger",
                "description": "Avalanche warnings, avalanche accidents and rescues in the mountains.",
                "seeds": [str(PAGES)],
            }
        ],
        **extra,
    }
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def dev_records() -> list[Record]:
    return read_records(shared_path("eval", "dev.jsonl"))
