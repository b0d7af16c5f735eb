"""Digests on SQLite and PostgreSQL through the real stage and sender: an
HTML digest with its text part on a real SMTP server, a text digest on a
webhook, periods that follow each other, exactly once part by part, the
split to the service's limit, and the digest and mute commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import deliver_due
from monitor.alerting.digest import DigestPlan, TopicStories, render_digest
from monitor.alerting.digest_sender import send_digests
from monitor.alerting.message import Limits
from monitor.cli import main
from monitor.config import Settings, load_config_text
from monitor.matching import build_matcher
from monitor.matching.stage import classify_pending
from monitor.storage import Article, Delivery, Feed
from monitor.storage.story_models import Digest
from monitor.storage.story_views import StoryView
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

EVENTS = [
    ("Variety", "en", "Dockers at Le Havre strike over pensions", "The CGT at Le Havre called the strike."),
    (
        "Le Monde",
        "fr",
        "Les dockers du Havre en grève pour leurs retraites",
        "La CGT du Havre appelle à la grève.",
    ),
    ("Reuters", "en", "Lufthansa pilots strike in Frankfurt", "The Vereinigung Cockpit union called it."),
]
DAY = datetime(2026, 7, 13, 10, 0, tzinfo=UTC)


def settings_for(url: str, **channel: Any) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"send_timeout": 5},
            "channels": [{"name": "desk", "url": url, **channel}],
            "topics": [
                {
                    "id": "strikes",
                    "name": "Strikes",
                    "model": "rules",
                    "rules": {"any": ["strike", "grève"]},
                    "channels": ["desk"],
                }
            ],
        }
    )


def add_events(factory: sessionmaker[Session], events: list[tuple[str, str, str, str]], at: datetime) -> None:
    with factory.begin() as session:
        for n, (outlet, language, title, summary) in enumerate(events):
            feed = session.scalars(select(Feed).where(Feed.name == outlet)).one_or_none()
            if feed is None:
                feed = Feed(
                    url=f"https://{outlet.lower().replace(' ', '')}.example/rss",
                    name=outlet,
                    interval_seconds=60,
                )
                session.add(feed)
                session.flush()
            session.add(
                Article(
                    feed_id=feed.id,
                    item_key=f"{at:%H%M}-{n}",
                    title=title,
                    summary=summary,
                    link=f"https://{outlet.lower().replace(' ', '')}.example/{at:%H%M}/{n}",
                    language=language,
                    published_at=at,
                    fetched_at=at,
                    content_hash=f"{at:%H%M}{n:060d}",
                )
            )


def classify(factory: sessionmaker[Session], settings: Settings, at: datetime) -> None:
    classify_pending(factory, settings, build_matcher(settings), now=at)


def digests(factory: sessionmaker[Session]) -> list[Digest]:
    with factory() as session:
        rows = list(session.scalars(select(Digest).order_by(Digest.id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_an_email_digest_has_an_html_and_a_text_part(
    session_factory: sessionmaker[Session], smtp: SmtpServer
) -> None:
    settings = settings_for(
        smtp.apprise_url(to="desk@example.org"),
        mode="digest",
        digest={"daily": "08:00"},
        timezone="Europe/Paris",
    )
    add_events(session_factory, EVENTS, DAY)
    classify(session_factory, settings, DAY)
    with session_factory() as session:
        assert session.scalars(select(Delivery)).all() == []  # mode digest: no instant alert
    before = datetime(2026, 7, 14, 6, 0, tzinfo=UTC)  # 08:00 in Paris: the boundary, within the grace
    assert deliver_due(session_factory, settings, now=before).digests_sent == 0
    after = before + timedelta(minutes=1)
    assert deliver_due(session_factory, settings, now=after).digests_sent == 1
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "news-monitor digest: 2 stories"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    html_body, text_body = page.get_content(), text.get_content()
    assert "<h3>Strikes (2)</h3>" in html_body
    assert (
        '<a href="https://variety.example/1000/0">Dockers at Le Havre strike over pensions</a>' in html_body
    )
    assert "2 outlet(s): Variety, Le Monde" in html_body and "en, fr" in html_body
    assert "Dockers at Le Havre strike over pensions" in text_body and "Lufthansa pilots" in text_body
    assert "2026-07-13 08:00 to 2026-07-14 08:00 (Europe/Paris)" in text_body
    (stored,) = digests(session_factory)
    assert (stored.state, stored.story_count, stored.parts_sent) == ("sent", 2, 1)
    # Sent once: later runs send nothing more; the next period is empty.
    assert deliver_due(session_factory, settings, now=after + timedelta(days=1)).digests_sent == 0
    assert len(smtp.messages) == 1


def test_periods_follow_each_other_and_both_mode_alerts_too(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook.apprise_url("/desk"), mode="both", digest={"every": "1h"})
    add_events(session_factory, EVENTS[:1], DAY.replace(minute=10))
    classify(session_factory, settings, DAY.replace(minute=10))
    deliver_due(session_factory, settings, now=DAY.replace(minute=10))
    add_events(session_factory, EVENTS[2:], DAY.replace(hour=11, minute=10))
    classify(session_factory, settings, DAY.replace(hour=11, minute=10))
    deliver_due(session_factory, settings, now=DAY.replace(hour=11, minute=10))
    deliver_due(session_factory, settings, now=DAY.replace(hour=12, minute=1))
    instant = [r.json for r in hook.delivered if r.json["message"].startswith("Topic:")]
    digested = [r.json for r in hook.delivered if r.json["message"].startswith("Digest of")]
    assert len(instant) == 2  # mode both: the instant alerts as well
    assert len(digested) == 2
    assert EVENTS[0][2] in digested[0]["message"] and EVENTS[2][2] not in digested[0]["message"]
    assert EVENTS[2][2] in digested[1]["message"] and EVENTS[0][2] not in digested[1]["message"]
    first, second = digests(session_factory)
    assert (first.period_start, first.period_end) == (DAY, DAY.replace(hour=11))
    assert (second.period_start, second.period_end) == (DAY.replace(hour=11), DAY.replace(hour=12))


def test_a_failed_part_is_retried_alone(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    """Part 1 of 3 accepted, part 2 refused: the retry sends parts 2 and 3,
    never part 1 again."""
    settings = settings_for(hook.apprise_url("/desk"), mode="digest", digest={"every": "1h"})
    parts = [{"title": f"digest ({n}/3)", "body": f"part {n}", "format": "text"} for n in (1, 2, 3)]
    with session_factory.begin() as session:
        session.add(
            Digest(
                channel="desk",
                period_start=DAY,
                period_end=DAY + timedelta(hours=1),
                parts=parts,
                story_count=3,
                next_attempt_at=DAY,
            )
        )
    hook.script(200, 500)
    first = send_digests(session_factory, settings, now=DAY)
    assert (first.sent, first.retried, first.parts_sent) == (0, 1, 1)
    (row,) = digests(session_factory)
    assert (row.state, row.parts_sent, row.attempts) == ("pending", 1, 1)
    second = send_digests(session_factory, settings, now=DAY + timedelta(minutes=5))
    assert (second.sent, second.parts_sent) == (1, 2)
    assert [r.json["message"] for r in hook.delivered] == ["part 1", "part 2", "part 3"]
    assert [r.status for r in hook.requests] == [200, 500, 200, 200]


def _story(n: int) -> StoryView:
    return StoryView(
        id=n,
        headline=f"Story {n}: " + "a long headline " * 12,
        link=f"https://news.example/{n}",
        first_seen_at=DAY,
        last_seen_at=DAY,
        article_count=2,
        outlets=["Variety", "Le Monde"],
        languages=["en", "fr"],
        topics=["strikes"],
        best_score=1.0,
        articles=[],
    )


def test_a_long_digest_is_split_within_the_limit_and_loses_no_story() -> None:
    settings = settings_for("json://127.0.0.1:9/x")
    stories = [_story(n) for n in range(1, 41)]
    plan = DigestPlan(
        settings.channels[0],
        "desk",
        DAY,
        DAY + timedelta(days=1),
        [TopicStories("strikes", "Strikes", stories)],
    )
    limits = Limits(title=100, body=1500, slack_escaped=True)
    parts = render_digest(plan, limits, as_html=False)
    assert len(parts) > 3
    for number, part in enumerate(parts, start=1):
        cost = sum(5 if ch == "&" else 4 if ch in "<>" else 1 for ch in part["body"])
        assert cost <= limits.body and len(part["title"]) <= limits.title
        assert part["body"].endswith(f"(part {number} of {len(parts)})")
    text = "\n".join(part["body"] for part in parts)
    assert [n for n in range(1, 41) if f"Story {n}: " in text] == list(range(1, 41))
    assert all(text.count(f"https://news.example/{n}\n") == 1 for n in range(1, 41))


def test_digest_preview_send_and_mute_commands(tmp_path: Path, db_url: str, hook: WebhookReceiver) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database_url: '{db_url}'\n"
        f"channels:\n  - name: desk\n    url: '{hook.apprise_url('/desk')}'\n    mode: digest\n"
        "topics:\n  - id: strikes\n    name: Strikes\n    model: rules\n    rules: {any: [strike, grève]}\n"
        "    channels: [desk]\n",
        encoding="utf-8",
    )
    settings = load_config_text(config.read_text(encoding="utf-8"))
    from monitor.storage import create_db_engine, make_session_factory

    engine = create_db_engine(db_url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    add_events(factory, EVENTS, now - timedelta(minutes=1))
    classify(factory, settings, now - timedelta(minutes=1))
    runner = CliRunner()

    preview = runner.invoke(main, ["--config", str(config), "digest", "preview", "desk"])
    assert preview.exit_code == 0, preview.output
    assert "news-monitor digest: 2 stories" in preview.output and EVENTS[2][2] in preview.output
    assert hook.requests == [] and digests(factory) == []  # a preview sends and stores nothing

    stories = runner.invoke(main, ["--config", str(config), "stories", "--format", "json"])
    assert stories.exit_code == 0 and len(stories.output.strip().splitlines()) == 2

    muted = runner.invoke(main, ["--config", str(config), "mute", "desk", "--for", "2h"])
    assert muted.exit_code == 0 and "channel desk muted until" in muted.output
    listed = runner.invoke(main, ["--config", str(config), "mute"])
    assert "channel desk: muted until" in listed.output
    held = runner.invoke(main, ["--config", str(config), "digest", "send", "desk"])
    assert held.exit_code == 1 and "1 digest(s) stored, 0 sent" in held.output  # the mute holds it
    assert hook.requests == []
    unmuted = runner.invoke(main, ["--config", str(config), "unmute", "desk"])
    assert "1 mute(s) ended" in unmuted.output
    assert send_digests(factory, settings).sent == 1
    (request,) = hook.wait_for(1)
    assert request.json["title"] == "news-monitor digest: 2 stories"
    again = runner.invoke(main, ["--config", str(config), "digest", "send", "desk"])
    assert "nothing to send" in again.output
    bad = runner.invoke(main, ["--config", str(config), "mute", "nobody", "--for", "1h"])
    assert bad.exit_code == 2 and "neither a topic id nor a channel name" in bad.output
    engine.dispose()


def test_a_channel_template_shapes_the_sent_alert(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(
        hook.apprise_url("/desk"),
        template={
            "title": "{{ topic }}: {{ title }}",
            "body": "{{ source }} ({{ story.outlet_count }} outlet{{ 's' if story.outlet_count > 1 }})\n{{ link }}",
        },
    )
    add_events(session_factory, EVENTS[2:], DAY)
    classify(session_factory, settings, DAY)
    assert deliver_due(session_factory, settings, now=DAY).sent == 1
    (request,) = hook.delivered
    assert request.json["title"] == "Strikes: Lufthansa pilots strike in Frankfurt"
    assert request.json["message"] == "Reuters (1 outlet)\nhttps://reuters.example/1000/0"
