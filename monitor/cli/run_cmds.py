"""Commands: ``monitor run`` (embedded service) and ``monitor serve`` (pages and HTTP API)."""

from __future__ import annotations

import logging
from datetime import datetime

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.config import ConfigError
from monitor.urls import redact_url


def _say(line: str) -> None:
    click.echo(f"{datetime.now():%H:%M:%S} {line}")


@main.command("run")
@click.option("--once", is_flag=True, help="Poll every feed once, classify, send alerts, and exit.")
@click.option(
    "--tick",
    type=click.FloatRange(0.5, 3600),
    default=5.0,
    show_default=True,
    help="Seconds between scheduler ticks.",
)
@pass_cli
def run(cli: CliContext, once: bool, tick: float) -> None:
    """Run the monitor in one process (embedded mode: SQLite by default, no server needed)."""
    from monitor.runtime import Runtime
    from monitor.service import EmbeddedService
    from monitor.storage.migrate import current_revision, head_revision

    settings = cli.settings
    if not settings.embedded:
        _say(
            f"note: broker_url is set; `monitor run` still works alone, but the Celery "
            f"workers do this job in distributed mode ({redact_url(settings.broker_url or '')})"
        )
    if current_revision(settings.database_url) != head_revision(settings.database_url):
        raise click.ClickException(
            f"database {redact_url(settings.database_url)} is not at the latest schema: "
            "run `monitor db upgrade` first"
        )
    try:
        runtime = Runtime(cli.config_path)
    except ConfigError as exc:  # pragma: no cover - cli.settings already validated it
        raise click.ClickException(str(exc)) from None
    service = EmbeddedService(runtime, report=_say)
    _say(
        f"config {cli.config_path}, database {redact_url(settings.database_url)}, "
        f"model {runtime.matcher.version}"
    )
    try:
        if once:
            result = service.run_once()
            _say(
                f"done: {len(result.polls)} feed(s) polled, {result.new_articles} new article(s), "
                f"{len(result.classified.matches)} match(es), {result.sent} alert(s) sent"
            )
        else:
            service.run_forever(tick=tick)
    finally:
        runtime.close()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True)
@pass_cli
def serve(cli: CliContext, host: str, port: int) -> None:
    """Serve the pages and the HTTP API (matches, topics, feeds, deliveries).

    Pages at /matches, the API under /api/v1 (docs at /api/docs), /metrics
    and /health. Changes (feedback, feed reset, delivery retry) need a token
    from MONITOR_API_TOKEN or web.tokens; without one the server listens on
    a loopback address only and is read-only.
    """
    import uvicorn

    from monitor.web.access import AccessError, RedactTokens, check_bind, configured_tokens, logging_config
    from monitor.web.app import create_app

    settings = cli.settings
    try:
        tokens = configured_tokens(settings)
        check_bind(host, tokens)
        app = create_app(settings)
    except AccessError as exc:
        raise click.ClickException(str(exc)) from None
    for handler in logging.getLogger().handlers:  # our own log lines too
        handler.addFilter(RedactTokens(tokens))
    _say(
        f"serving http://{host}:{port}/matches (API docs at /api/docs), database {redact_url(settings.database_url)}"
    )
    uvicorn.run(app, host=host, port=port, log_config=logging_config(tokens), proxy_headers=False)
