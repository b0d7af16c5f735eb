"""Databases for tests and benchmarks: throwaway PostgreSQL databases and
schema resets, so no test touches the machine's own `test` database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor.storage import Base, create_db_engine
from monitor.storage.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def throwaway_postgres(prefix: str = "nm_test") -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, dropped afterwards."""
    admin_url = make_url(POSTGRES_ADMIN_URL)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def drop_schema(db_url: str) -> None:
    """No tables at all, not even Alembic's."""
    engine = create_db_engine(db_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def migrated_schema(db_url: str) -> None:
    """A fresh schema built by the migrations, as `monitor db upgrade` builds it."""
    drop_schema(db_url)
    upgrade(db_url)
