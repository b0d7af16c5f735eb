"""The ``monitor`` command line.

Each group of commands lives in its own module and registers itself on
``main``; this module only defines the group, the shared ``--config`` option
and the context object that loads the config once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import ConfigError, Settings, environment, load_config, resolve_config_path


@dataclass
class CliContext:
    config_option: str | None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return resolve_config_path(self.config_option)

    @property
    def settings(self) -> Settings:
        """The validated config; a bad one ends the command with its errors."""
        if self._settings is None:
            try:
                self._settings = load_config(self.config_option)
            except ConfigError as exc:
                for problem in exc.problems:
                    click.echo(f"error: {problem}", err=True)
                raise SystemExit(2) from None
        return self._settings

    @contextmanager
    def sessions(self) -> Iterator[sessionmaker[Session]]:
        """Sessions on the configured database, for one command."""
        from monitor.storage import create_db_engine, make_session_factory

        engine = create_db_engine(self.settings.database_url)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


pass_cli = click.make_pass_decorator(CliContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_option",
    metavar="FILE",
    envvar=environment.CONFIG.name,
    help="Config file (default: ./monitor.yaml, or $MONITOR_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, config_option: str | None, verbose: int) -> None:
    """news-monitor: watch feeds, match topics learned from seed articles, alert once."""
    level = environment.log_level() or logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = CliContext(config_option=config_option)


def _register() -> None:
    # Imported for their side effect of adding commands to ``main``.
    from monitor.cli import (  # noqa: F401
        config_cmds,
        db_cmds,
        delivery_cmds,
        feed_cmds,
        matching_cmds,
        query_cmds,
        run_cmds,
        story_cmds,
        topic_cmds,
    )


_register()
