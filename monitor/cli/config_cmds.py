"""Commands: ``monitor check-config`` and ``monitor config schema``."""

from __future__ import annotations

import json

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.config import Settings
from monitor.urls import redact_url


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


@main.group("config")
def config_group() -> None:
    """The config file's format."""


@config_group.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file, for editors (completion, checks).

    Save it beside the config and name it on the config's first line:
    ``# yaml-language-server: $schema=monitor.schema.json``.
    """
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Settings.model_json_schema(),
        "title": "news-monitor configuration (monitor.yaml)",
    }
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))
