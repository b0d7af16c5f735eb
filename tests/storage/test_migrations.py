"""The Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

from monitor.cli import main
from monitor.storage import Base, create_db_engine
from monitor.storage.migrate import current_revision, head_revision, upgrade
from monitor.storage.models import created_on


def test_upgrade_matches_models_on_both_dialects(db_url: str) -> None:
    engine = create_db_engine(db_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(db_url)

    def here(item: object, *_: object) -> bool:
        return created_on(item, engine.dialect.name)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": here})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= {
        "feeds",
        "articles",
        "matches",
        "deliveries",
        "feedback",
        "notices",
    }
    assert current_revision(db_url) == head_revision(db_url)
    upgrade(db_url)  # a second upgrade is a no-op
    engine.dispose()


def test_db_upgrade_command_creates_sqlite_file(tmp_path) -> None:
    db_file = tmp_path / "sub" / "monitor.sqlite3"
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database_url: sqlite:///{db_file}\n")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert db_file.exists()
    status = runner.invoke(main, ["--config", str(config), "db", "status"])
    assert status.exit_code == 0
    assert "up to date" in status.output
