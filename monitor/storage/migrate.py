"""Schema migrations (Alembic), run by ``monitor db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from monitor.storage.db import create_db_engine

# alembic.ini and alembic/ sit at the top of the repository (and of the
# container image), beside the ``monitor`` package.
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def _config(database_url: str) -> Config:
    if not ALEMBIC_INI.exists():
        raise FileNotFoundError(f"alembic.ini not found at {ALEMBIC_INI}")
    config = Config(str(ALEMBIC_INI))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(_config(database_url)).get_current_head()
