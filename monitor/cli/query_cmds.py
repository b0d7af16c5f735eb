"""Commands: ``monitor matches`` and ``monitor feeds``."""

from __future__ import annotations

import json
from datetime import datetime

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.cli.output import emit_for_programs
from monitor.ingest.schedule import format_seconds
from monitor.query import FilterError, evidence_line, match_filter
from monitor.storage import utcnow
from monitor.storage.views import MatchRow, find_matches, list_feeds


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


@main.command("matches")
@click.option("--topic", multiple=True, help="Only this topic id (repeatable).")
@click.option("--since", help="Matched since: 24h, 7d, 2w, a date or an ISO time.")
@click.option("--until", help="Matched until: same forms as --since.")
@click.option("--feed", help="Feed name or URL (a part of it is enough).")
@click.option("--lang", help="Article language code, e.g. en or fr.")
@click.option("--min-score", type=click.FloatRange(0, 1), help="Lowest score shown.")
@click.option("--search", "search", metavar="TEXT", help="Words that must all appear in title or summary.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (one object a line) or csv for programs.",
)
@pass_cli
def matches(
    cli: CliContext,
    topic: tuple[str, ...],
    since: str | None,
    until: str | None,
    feed: str | None,
    lang: str | None,
    min_score: float | None,
    search: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Stored matches, newest first."""
    try:
        flt = match_filter(
            topic=topic,
            since=since,
            until=until,
            feed=feed,
            lang=lang,
            min_score=min_score,
            search=search,
            limit=limit,
        )
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.field}") from None
    with cli.sessions() as factory, factory() as session:
        rows = find_matches(session, flt)
    header = [
        "matched_at",
        "topic",
        "score",
        "language",
        "feed",
        "title",
        "link",
        "published_at",
        "evidence",
        "article_id",
        "match_id",
        "story_id",
    ]

    def as_row(row: MatchRow) -> list[object]:
        return [
            row.matched_at.isoformat(),
            row.topic_id,
            f"{row.score:.3f}",
            row.language or "",
            row.feed_name,
            row.title,
            row.link or "",
            row.published_at.isoformat() if row.published_at else "",
            evidence_line(row.evidence),
            row.article_id,
            row.match_id,
            row.story_id or "",
        ]

    if emit_for_programs(fmt, rows, as_json=lambda row: row.as_json(), header=header, as_row=as_row):
        return
    if not rows:
        click.echo("no matches", err=True)
        return
    click.echo(f"{'matched':16}  {'topic':20}  score  lang  story   {'feed':18}  title")
    for row in rows:
        story = str(row.story_id) if row.story_id is not None else "-"
        click.echo(
            f"{_local(row.matched_at):16}  {_short(row.topic_id, 20):20}  {row.score:5.2f}  "
            f"{(row.language or '-'):4}  {story:6}  {_short(row.feed_name, 18):18}  {_short(row.title, 70)}"
        )
        why = evidence_line(row.evidence)
        if why:
            click.echo(f"{'':16}  ↳ {_short(why, 110)}")
        if row.link:
            click.echo(f"{'':16}    {row.link}")
    click.echo(f"{len(rows)} match(es)", err=True)


@main.group("feeds", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def feeds(ctx: click.Context, fmt: str) -> None:
    """Feeds with their polling state: errors, next check, silence, and the
    interval in force with its reason (the feed's rhythm, its TTL or the
    server's cache headers, a backoff)."""
    if ctx.invoked_subcommand is not None:
        return
    cli: CliContext = ctx.obj
    with cli.sessions() as factory, factory() as session:
        views = list_feeds(session, now=utcnow(), silent_after=cli.settings.fetch.silent_after)
    for feed in views:
        if fmt == "json":
            click.echo(json.dumps(feed.as_json(), ensure_ascii=False))
            continue
        flags = [feed.status.value]
        if feed.consecutive_errors:
            flags.append(f"{feed.consecutive_errors} error(s)")
        if feed.silent:
            flags.append("silent")
        click.echo(
            f"{feed.id:4}  {_short(feed.name, 28):28}  {', '.join(flags):24}  "
            f"next {_local(feed.next_check_at)}  last ok {_local(feed.last_success_at)}  "
            f"every {format_seconds(feed.interval_seconds)}: {feed.interval_reason}"
        )
        if feed.last_error and feed.consecutive_errors:
            click.echo(f"      ↳ {_short(feed.last_error, 110)}")
    if fmt == "table" and not views:
        click.echo("no feeds yet: run `monitor run --once` (feeds are read from the config)", err=True)


@feeds.command("reset")
@click.argument("feed_ids", type=int, nargs=-1, required=True)
@pass_cli
def feeds_reset(cli: CliContext, feed_ids: tuple[int, ...]) -> None:
    """Clear a feed's errors (or its gone state) and poll it at the next tick."""
    from monitor.ingest.dispatch import reset_feed

    with cli.sessions() as factory:
        for feed_id in feed_ids:
            ok = reset_feed(factory, feed_id)
            click.echo(f"feed {feed_id}: {'reset' if ok else 'not found'}")
