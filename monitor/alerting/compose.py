"""One alert as it is sent: the default rendering (``message.render_alert``)
or the topic's or channel's template (``monitor.templates``), with what the
story adds (its outlets, a follow-up's wording) and the volume knob's notes.

Templates receive the *cleaned* values (no control characters, chat
mentions neutralised, only safe links), and an HTML template escapes them
too; whatever a template produces is cut to the channel's limits. A
template that fails at send time (it was checked at load, so this is a bug
or an odd value) falls back to the default rendering rather than losing the
alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor import templates
from monitor.alerting.message import (
    Limits,
    _slack_cost,
    clean_text,
    cut,
    format_evidence,
    format_score,
    format_time,
    render_alert,
    safe_link,
    safe_text,
)
from monitor.config import ChannelConfig, Settings, TemplateConfig
from monitor.storage.outbox import OutgoingAlert
from monitor.urls import article_page_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComposedAlert:
    title: str
    body: str
    html: bool = False


def story_line(alert: OutgoingAlert) -> str | None:
    story = alert.story
    if story is None or story.article_count < 2:
        return None
    shown = ", ".join(story.outlets[:5]) + (f" +{len(story.outlets) - 5}" if len(story.outlets) > 5 else "")
    languages = f" in {', '.join(story.languages)}" if story.languages else ""
    return (
        f"{story.article_count} articles from {len(story.outlets)} outlet(s){languages}: {shown} "
        f"(story {story.id})"
    )


def template_values(alert: OutgoingAlert, topic_name: str | None) -> dict[str, Any]:
    evidence = alert.evidence or {}
    terms = evidence.get("terms")
    story = alert.story
    return {
        "topic": safe_text(topic_name or alert.topic_id, 120),
        "topic_id": safe_text(alert.topic_id, 60),
        "title": safe_text(alert.title, 500) or "(untitled)",
        "link": safe_link(alert.link) or "",
        "source": safe_text(alert.feed_name, 200),
        "published": format_time(alert.published_at),
        "score": round(float(alert.score), 3),
        "reason": safe_text(evidence.get("reason") or format_evidence(evidence, alert.model_version), 300),
        "terms": [safe_text(term, 60) for term in terms[:20]] if isinstance(terms, list) else [],
        "language": alert.language or "",
        "kind": alert.kind,
        "story": {
            "id": story.id if story else None,
            "outlets": [safe_text(name, 200) for name in story.outlets] if story else [alert.feed_name],
            "outlet_count": len(story.outlets) if story else 1,
            "article_count": story.article_count if story else 1,
            "languages": story.languages if story else ([alert.language] if alert.language else []),
        },
    }


def _template_of(settings: Settings, channel: ChannelConfig, topic_id: str) -> TemplateConfig | None:
    try:
        topic_template = settings.topic(topic_id).template
    except KeyError:
        topic_template = None
    return topic_template or channel.template


def compose_alert(
    settings: Settings,
    channel: ChannelConfig,
    alert: OutgoingAlert,
    limits: Limits,
    notes: Sequence[str] = (),
) -> ComposedAlert:
    try:
        topic_name: str | None = settings.topic(alert.topic_id).name
    except KeyError:
        topic_name = None  # the topic was removed; the match still stands
    follow_up = alert.kind == "follow-up"
    all_notes = list(notes)
    if follow_up and alert.story is not None:
        all_notes.insert(0, f"This story is now reported by {len(alert.story.outlets)} outlets.")
    default = render_alert(
        topic_id=alert.topic_id,
        topic_name=topic_name,
        title=alert.title,
        link=alert.link,
        feed_name=alert.feed_name,
        published_at=alert.published_at,
        score=alert.score,
        evidence=alert.evidence,
        model_version=alert.model_version,
        limits=limits,
        story_line=story_line(alert),
        notes=all_notes,
        title_prefix="Update: " if follow_up else "",
        review_url=article_page_url(settings.web.base_url, alert.article_id),
    )
    template = _template_of(settings, channel, alert.topic_id)
    if template is None:
        return ComposedAlert(default.title, default.body)
    cost = _slack_cost if limits.slack_escaped else None
    values = template_values(alert, topic_name)
    html = template.format == "html"
    try:
        title = default.title
        if template.title is not None:
            title = (
                cut(clean_text(templates.render(template.title, values)), limits.title, cost) or default.title
            )
        body = default.body
        if template.body is not None:
            body = templates.render(template.body, values, html=html)
            if not html:
                body = clean_text(body, single_line=False)
            body = body + "".join(
                f"\n{'<p>' if html else ''}Note: {safe_text(note, 400)}{'</p>' if html else ''}"
                for note in all_notes
            )
            body = cut(body, limits.body, cost)
    except Exception:
        log.exception(
            "template of topic %r / channel %r failed; sending the default", alert.topic_id, channel.name
        )
        return ComposedAlert(default.title, default.body)
    return ComposedAlert(title, body, html and template.body is not None)


__all__ = ["ComposedAlert", "compose_alert", "format_score", "story_line", "template_values"]
