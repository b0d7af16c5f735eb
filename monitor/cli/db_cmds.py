"""Commands: ``monitor db upgrade`` and ``monitor db status``."""

from __future__ import annotations

import json

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.storage.migrate import current_revision, head_revision, upgrade
from monitor.urls import redact_url


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_cli
def db_upgrade(cli: CliContext, revision: str) -> None:
    """Create or upgrade the database schema."""
    url = cli.settings.database_url
    click.echo(f"upgrading {redact_url(url)} to {revision}", err=True)
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@db.command("status")
@pass_cli
def db_status(cli: CliContext) -> None:
    """Show the database's revision and whether it is up to date."""
    url = cli.settings.database_url
    current, head = current_revision(url), head_revision(url)
    state = "up to date" if current == head else "needs `monitor db upgrade`"
    click.echo(f"{redact_url(url)}: revision {current or 'none'} (head {head}): {state}")
    if current != head:
        raise SystemExit(1)


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_cli
def db_prune(cli: CliContext, dry_run: bool, fmt: str) -> None:
    """Remove what retention no longer keeps (retention.articles, .matches, .deliveries).

    Finished alerts, then matches, then articles left without a match, in
    batches of retention.batch_size rows per transaction. Articles with
    feedback are kept, and so is every article a kept match points to.
    """
    from monitor.retention import prune, retention_ages

    with cli.sessions() as factory:
        report = prune(factory, cli.settings, dry_run=dry_run)
    if fmt == "json":
        click.echo(json.dumps(report.as_json()))
        return
    for line in report.lines(retention_ages(cli.settings)):
        click.echo(line)
