"""Shared fixtures: a database on each dialect, over real connections.

Every test that takes ``db_url`` runs twice: on a fresh SQLite file and on the
machine's PostgreSQL (``MONITOR_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``). The PostgreSQL run uses a
database of its own, created for this test session and dropped after it, so
the machine's ``test`` database is never touched. ``make test`` makes sure a
PostgreSQL is reachable; an unreachable one is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Base, create_db_engine, make_session_factory
from tests.support.databases import POSTGRES_ADMIN_URL, drop_schema, throwaway_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR", REPO_ROOT.parent / "shared"))
REDIS_URL = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def shared_path(*parts: str) -> Path:
    """A file of the read-only material beside the repository (../shared)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared material missing: {path} (set MONITOR_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL, for this test session."""
    try:
        with throwaway_postgres() as url:
            yield url
    except OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}. Run `make test`.")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty schema, on SQLite then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
        engine = create_db_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def empty_db_url(db_url: str) -> str:
    """``db_url`` with no tables at all, for tests that run `monitor db upgrade`."""
    drop_schema(db_url)
    return db_url
