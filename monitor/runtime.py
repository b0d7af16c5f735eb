"""What a running process holds: the config, the database and the matcher.

The same ``Runtime`` serves the embedded service and every Celery worker
process. It re-reads the config file when it changes: a good new config is
picked up without a restart; a broken one is rejected with its errors logged,
and the process keeps its last good config.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, load_config, resolve_config_path
from monitor.matching import build_matcher
from monitor.matching.base import TopicMatcher
from monitor.storage import create_db_engine, make_session_factory

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config_path: str | os.PathLike[str] | None = None) -> None:
        self.config_path = resolve_config_path(config_path)
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self._session_factory: sessionmaker[Session] | None = None
        self.last_config_error: str | None = None
        self.reload(force=True)

    # -- config ---------------------------------------------------------------

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = Path(self.config_path).stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def reload(self, *, force: bool = False) -> bool:
        """Load the config again if the file changed; True when a new one took effect.

        The first load must succeed (raises ConfigError); later failures are
        logged and the last good config stays in force.
        """
        with self._lock:
            stamp = self._file_stamp()
            if not force and stamp == self._stamp:
                return False
            try:
                settings = load_config(self.config_path)
            except Exception as exc:  # ConfigError, or anything a broken file provokes
                if self._settings is None:
                    raise
                self._stamp = stamp  # do not re-log the same broken file every tick
                self.last_config_error = str(exc)
                log.error("config %s rejected, keeping the last good config:\n%s", self.config_path, exc)
                return False
            previous = self._settings
            self._stamp = stamp
            self._settings = settings
            self.last_config_error = None
            if previous is None or previous.database_url != settings.database_url:
                if self._engine is not None:
                    self._engine.dispose()
                self._engine = create_db_engine(settings.database_url)
                self._session_factory = make_session_factory(self._engine)
            if previous is not None:
                log.warning("config %s reloaded", self.config_path)
            return True

    @property
    def settings(self) -> Settings:
        assert self._settings is not None
        return self._settings

    @property
    def session_factory(self) -> sessionmaker[Session]:
        assert self._session_factory is not None
        return self._session_factory

    @property
    def matcher(self) -> TopicMatcher:
        """The matcher for the current topics and model file. ``build_matcher``
        caches it per process, keyed by the topics and the artifact file's
        identity, so a re-learned model is picked up as a config change is."""
        return build_matcher(self.settings)

    def model_data(self) -> dict[str, Any] | None:
        """The artifact in use (None when no topic model exists)."""
        model = getattr(self.matcher, "model", None)
        data: dict[str, Any] | None = getattr(model, "data", None)
        return data

    def relearn_if_due(self) -> str | None:
        """Re-learn the topic model when feedback or a topic changed (see
        :mod:`monitor.matching.relearn`); the new version, or None."""
        from monitor.matching.relearn import relearn_if_due

        learned = relearn_if_due(self.settings, self.model_data())
        return None if learned is None else str(learned.data["version"])

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
