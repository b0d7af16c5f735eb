"""Commands: ``monitor stories``, ``monitor digest preview|send`` and
``monitor mute|unmute``.

Feed text is shown through ``clean_text`` (no terminal escapes)."""

from __future__ import annotations

from datetime import timedelta

import click

from monitor.alerting.message import clean_text, cut
from monitor.cli import CliContext, main, pass_cli
from monitor.cli.output import emit_for_programs
from monitor.config import ChannelConfig, Settings, parse_duration
from monitor.query import parse_when
from monitor.storage import run_in_transaction, utcnow


def _short(text: str, width: int) -> str:
    return cut(clean_text(text), width)


@main.command("stories")
@click.option("--topic", multiple=True, help="Only stories with a match of this topic id (repeatable).")
@click.option("--since", help="Stories with an article since: 24h, 7d, 2w, a date or an ISO time.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=30, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (one story a line, with its articles) or csv for programs.",
)
@pass_cli
def stories(cli: CliContext, topic: tuple[str, ...], since: str | None, limit: int, fmt: str) -> None:
    """Stories (one event, several outlets), newest first, with their outlets and languages."""
    from monitor.storage.story_views import StoryView, list_stories

    try:
        moment = parse_when(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with cli.sessions() as factory, factory() as session:
        views = list_stories(session, topics=topic, since=moment, limit=limit)
    header = [
        "story_id",
        "first_seen_at",
        "last_seen_at",
        "articles",
        "outlets",
        "languages",
        "topics",
        "headline",
        "link",
    ]

    def as_row(view: StoryView) -> list[object]:
        return [
            view.id,
            view.first_seen_at.isoformat(),
            view.last_seen_at.isoformat(),
            view.article_count,
            "; ".join(view.outlets),
            ",".join(view.languages),
            ",".join(view.topics),
            view.headline,
            view.link or "",
        ]

    if emit_for_programs(fmt, views, as_json=lambda view: view.as_json(), header=header, as_row=as_row):
        return
    if not views:
        click.echo("no stories", err=True)
        return
    click.echo(f"{'story':>6}  {'last seen':16}  arts  {'languages':9}  {'topics':24}  headline")
    for view in views:
        click.echo(
            f"{view.id:>6}  {view.last_seen_at.astimezone():%Y-%m-%d %H:%M}  {view.article_count:4}  "
            f"{','.join(view.languages):9}  {_short(','.join(view.topics), 24):24}  {_short(view.headline, 70)}"
        )
        click.echo(f"{'':8}↳ {len(view.outlets)} outlet(s): {_short(', '.join(view.outlets), 100)}")
    click.echo(f"{len(views)} stor{'y' if len(views) == 1 else 'ies'}", err=True)


def _channel(settings: Settings, name: str) -> ChannelConfig:
    try:
        return settings.channel(name)
    except KeyError:
        known = ", ".join(channel.name for channel in settings.channels) or "none"
        raise click.BadParameter(f"no channel {name!r} (channels: {known})", param_hint="CHANNEL") from None


@main.group("digest")
def digest() -> None:
    """A channel's digest: what the next one holds, or send it now."""


@digest.command("preview")
@click.argument("channel")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML parts as they would be e-mailed.")
@pass_cli
def digest_preview(cli: CliContext, channel: str, as_html: bool) -> None:
    """Print what CHANNEL's next digest holds so far (nothing is sent or stored)."""
    from monitor.alerting.digest import preview, render_digest
    from monitor.alerting.message import limits_for_urls

    settings = cli.settings
    config = _channel(settings, channel)
    with cli.sessions() as factory, factory() as session:
        plan, parts = preview(session, settings, config, utcnow())
    if as_html:
        parts = render_digest(plan, limits_for_urls(config.urls), as_html=True)
    if not plan.topics:
        click.echo(
            f"the next digest of {channel!r} holds nothing yet (since {plan.start:%Y-%m-%d %H:%M} UTC)"
        )
        return
    for part in parts:
        click.echo(part["title"])
        click.echo("-" * min(len(part["title"]), 70))
        click.echo(part["body"])
        click.echo()


@digest.command("send")
@click.argument("channel")
@pass_cli
def digest_send(cli: CliContext, channel: str) -> None:
    """Compose CHANNEL's digest up to now and send it (the next one starts now)."""
    from monitor.alerting.digest import send_now
    from monitor.alerting.digest_sender import send_digests

    settings = cli.settings
    config = _channel(settings, channel)
    with cli.sessions() as factory:
        created = send_now(factory, settings, config, utcnow())
        if not created:
            click.echo(f"nothing to send: the digest of {channel!r} holds no story yet")
            return
        report = send_digests(factory, settings)
    click.echo(f"{len(created)} digest(s) stored, {report.sent} sent ({report.parts_sent} part(s))")
    if report.sent < len(created):
        click.echo("the rest stays in the digest outbox and is retried by the service", err=True)
        raise SystemExit(1)


def _scope(settings: Settings, name: str) -> str:
    topics = {topic.id for topic in settings.topics}
    channels = {channel.name for channel in settings.channels}
    if name in topics and name in channels:
        raise click.BadParameter(f"{name!r} is both a topic and a channel", param_hint="NAME")
    if name in topics:
        return "topic"
    if name in channels:
        return "channel"
    raise click.BadParameter(f"{name!r} is neither a topic id nor a channel name", param_hint="NAME")


@main.command("mute")
@click.argument("name", required=False)
@click.option("--for", "duration", metavar="DURATION", help="How long: 30m, 4h, 2d.")
@click.option("--drop", is_flag=True, help="Drop what arrives meanwhile instead of holding it.")
@pass_cli
def mute(cli: CliContext, name: str | None, duration: str | None, drop: bool) -> None:
    """Mute a topic or a channel for a while (no NAME: list the mutes in force).

    Muted alerts are kept and sent by the channel's rules when the mute
    ends, or dropped with --drop. A muted channel's digests wait as well."""
    from monitor.storage import volume

    settings = cli.settings
    now = utcnow()
    if name is None:
        with cli.sessions() as factory, factory() as session:
            mutes = volume.active_mutes(session, now=now)
        for entry in mutes:
            verb = "dropping" if entry.drop else "holding"
            click.echo(
                f"{entry.scope} {entry.name}: muted until {entry.until.astimezone():%Y-%m-%d %H:%M} ({verb})"
            )
        if not mutes:
            click.echo("nothing is muted")
        return
    if not duration:
        raise click.UsageError("say how long: --for 4h")
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    scope = _scope(settings, name)
    until = now + timedelta(seconds=seconds)
    with cli.sessions() as factory:
        run_in_transaction(factory, lambda s: volume.add_mute(s, scope, name, until=until, drop=drop, at=now))
    fate = "dropped" if drop else "held and sent when the mute ends"
    click.echo(f"{scope} {name} muted until {until.astimezone():%Y-%m-%d %H:%M}; its alerts are {fate}")


@main.command("unmute")
@click.argument("name")
@pass_cli
def unmute(cli: CliContext, name: str) -> None:
    """End the mutes of a topic or a channel now; what they held is sent by the channel's rules."""
    from monitor.storage import volume

    scope = _scope(cli.settings, name)
    with cli.sessions() as factory:
        ended = run_in_transaction(factory, lambda s: volume.end_mutes(s, scope, name, now=utcnow()))
    click.echo(f"{scope} {name}: {len(ended)} mute(s) ended" if ended else f"{scope} {name} was not muted")
