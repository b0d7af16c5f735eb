"""Command: ``monitor check-config``."""

from __future__ import annotations

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.storage.db import redact_url


@main.command("check-config")
@pass_cli
def check_config(cli: CliContext) -> None:
    """Validate the config file and change nothing. Exits 2 on any error."""
    from monitor.alerting import check_channel

    settings = cli.settings  # exits with file:line errors when invalid
    # Apprise URLs are checked by Apprise itself; errors show no secrets.
    problems = [problem for channel in settings.channels for problem in check_channel(channel)]
    if problems:
        for problem in problems:
            click.echo(f"error: {cli.config_path}: {problem}", err=True)
        raise SystemExit(2)
    mode = "embedded (one process)" if settings.embedded else "distributed (Celery)"
    click.echo(f"{cli.config_path}: OK")
    click.echo(f"  mode:     {mode}")
    click.echo(f"  database: {redact_url(settings.database_url)}")
    click.echo(f"  feeds:    {len(settings.feeds)}")
    click.echo(f"  topics:   {', '.join(t.id for t in settings.topics) or 'none'}")
    click.echo(f"  channels: {', '.join(c.name for c in settings.channels) or 'none'}")
