from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor import resources
from monitor.config import Settings
from monitor.matching.evaluate import Record, read_records
from tests.conftest import shared_path

SEEDS = resources.seeds_dir()
SHIPPED_MODEL = SEEDS / "model.json"


def topics_settings(**extra: object) -> Settings:
    data = yaml.safe_load((SEEDS / "topics.example.yaml").read_text(encoding="utf-8"))
    data.update(extra)
    return Settings.model_validate(data)


@pytest.fixture(scope="session")
def dev_records() -> list[Record]:
    return read_records(shared_path("eval", "dev.jsonl"))


@pytest.fixture(scope="session")
def seeds_text_dir() -> Path:
    return shared_path("seeds")
