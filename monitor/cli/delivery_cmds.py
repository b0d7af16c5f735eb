"""Commands: ``monitor deliveries`` (list the alert outbox) and
``monitor deliveries retry`` (put dead deliveries back in the queue).

Feed text is shown through ``clean_text`` (no terminal escapes or control
characters) and errors through ``redact_text`` (no channel secrets).
"""

from __future__ import annotations

import json
from typing import Any

import click

from monitor.alerting.message import clean_text, cut
from monitor.cli import CliContext, main, pass_cli
from monitor.query import delivery_json
from monitor.storage import DeliveryState, outbox, run_in_transaction
from monitor.storage.views import list_deliveries

STATES = [state.value for state in DeliveryState]


def _table(rows: list[dict[str, Any]]) -> str:
    columns = [
        ("ID", "id", 7),
        ("STATE", "state", 7),
        ("TRIES", "attempts", 5),
        ("CHANNEL", "channel", 14),
        ("TOPIC", "topic", 16),
        ("TITLE", "title", 40),
        ("NEXT ATTEMPT", "next_attempt_at", 19),
        ("LAST ERROR", "last_error", 60),
    ]

    def cell(value: Any, width: int) -> str:
        text = "-" if value is None else clean_text(str(value))
        return cut(text, width).ljust(width)

    lines = ["  ".join(title.ljust(width) for title, _, width in columns).rstrip()]
    for row in rows:
        lines.append("  ".join(cell(row[key], width) for _, key, width in columns).rstrip())
    return "\n".join(lines)


@main.group("deliveries", invoke_without_command=True)
@click.option("--state", type=click.Choice(STATES), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def deliveries(ctx: click.Context, state: str | None, limit: int, fmt: str) -> None:
    """List alert deliveries (newest first): state, attempts, channel, error."""
    if ctx.invoked_subcommand is not None:
        return
    cli = ctx.find_object(CliContext)
    assert cli is not None
    with cli.sessions() as factory, factory() as session:
        views = list_deliveries(session, state=DeliveryState(state) if state else None, limit=limit)
    rows = [delivery_json(view) for view in views]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif rows:
        click.echo(_table(rows))
    else:
        click.echo("no deliveries" + (f" in state {state}" if state else ""))


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--all-dead", is_flag=True, help="Retry every dead delivery.")
@pass_cli
def deliveries_retry(cli: CliContext, ids: tuple[int, ...], all_dead: bool) -> None:
    """Put dead deliveries back to pending with 0 attempts (due now)."""
    if bool(ids) == all_dead:
        raise click.UsageError("give delivery IDs or --all-dead (not both)")
    with cli.sessions() as factory:
        count = run_in_transaction(
            factory, lambda session: outbox.retry_dead(session, None if all_dead else list(ids))
        )
    click.echo(f"{count} dead deliver{'y' if count == 1 else 'ies'} reset to pending")
    if ids and count < len(set(ids)):
        click.echo(f"{len(set(ids)) - count} of the given IDs were not dead (or do not exist)", err=True)
