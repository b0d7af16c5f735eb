"""Schema migrations (Alembic), run by ``monitor db upgrade``.

The migrations ship inside the package (``monitor/migrations``, found by
``monitor.resources``), so an installed ``monitor`` upgrades its database
from any directory, with no ``alembic.ini``: the Alembic configuration is
built here.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from monitor.resources import migrations_dir
from monitor.storage.db import create_db_engine


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
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
