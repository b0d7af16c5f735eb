"""Topic matching: keyword rules and the topic model learned from seed articles.

``build_matcher(settings)`` is what the pipeline calls. It is cheap to call
repeatedly: matchers are cached per process (keyed by the topics and the
artifact file's identity), and the embedding model loads lazily on first use,
so Celery prefork children each build their own after the fork.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from monitor import resources
from monitor.config import Settings
from monitor.matching.base import ArticleText, TopicDecision, TopicMatcher
from monitor.matching.matcher import CombinedMatcher
from monitor.matching.model import TopicModel, load_model

__all__ = [
    "ArticleText",
    "CombinedMatcher",
    "TopicDecision",
    "TopicMatcher",
    "active_model_path",
    "build_matcher",
    "default_model_path",
    "resolve_model_path",
]

MODEL_FILE = "model.json"


def default_model_path() -> Path:
    """The artifact shipped in the package (``monitor/seeds/model.json``)."""
    return resources.seeds_dir() / MODEL_FILE


def resolve_model_path(settings: Settings) -> Path:
    """Where ``monitor learn`` (and the service's automatic re-learning)
    writes the topic model: ``model_path`` (default ``var/model.json``),
    relative to the config file like every path in it."""
    return settings.resolve_path(settings.model_path)


def active_model_path(settings: Settings) -> Path:
    """The model in use: the learned one once it exists, else the one shipped
    in the package (learned from our seeds for the three shipped topics)."""
    learned = resolve_model_path(settings)
    return learned if learned.is_file() else default_model_path()


_CACHE: dict[tuple[object, ...], CombinedMatcher] = {}
_MODELS: dict[tuple[str, int, int], TopicModel | None] = {}
_LOCK = threading.Lock()


def _file_key(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def build_matcher(settings: Settings) -> TopicMatcher:
    """The matcher for the configured topics (cached per process and artifact file)."""
    path = active_model_path(settings)
    file_key = _file_key(path)
    key = (os.getpid(), file_key, settings.topics)
    with _LOCK:
        matcher = _CACHE.get(key)
        if matcher is None:
            if file_key not in _MODELS:
                _MODELS[file_key] = load_model(path)
            matcher = CombinedMatcher(settings.topics, _MODELS[file_key])
            _CACHE[key] = matcher
        return matcher
