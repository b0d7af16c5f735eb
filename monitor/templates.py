"""Alert templates: Jinja2 in a sandboxed environment.

A template comes from the config file, so it is checked at load
(:func:`check_template`): it must compile, and rendering it with sample
values of every documented variable must succeed (``StrictUndefined``: a
misspelt variable is an error, not an empty string). At send time
:func:`render` uses the same environment.

The sandbox (``ImmutableSandboxedEnvironment``) refuses attribute access to
internals and any mutation, so a template cannot reach Python objects. HTML
templates are autoescaped: feed text cannot inject markup into an e-mail.

Variables (:data:`VARIABLES`): ``topic`` (its name), ``topic_id``,
``title``, ``link`` (empty when the link is not safe to show), ``source``
(the feed's name), ``published`` (``YYYY-MM-DD HH:MM UTC`` or ``unknown``),
``score`` (a number), ``reason`` (why it matched, one line), ``terms`` (a
list of matched terms), ``language``, ``kind`` (``alert`` or
``follow-up``), and ``story``: ``story.id``, ``story.outlets`` (a list of
names), ``story.outlet_count``, ``story.article_count``,
``story.languages`` (a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

VARIABLES = (
    "topic",
    "topic_id",
    "title",
    "link",
    "source",
    "published",
    "score",
    "reason",
    "terms",
    "language",
    "kind",
    "story",
)

SAMPLE: dict[str, Any] = {
    "topic": "Strike negotiations",
    "topic_id": "strike-negotiations",
    "title": "Actors' union calls a strike",
    "link": "https://news.example/strike",
    "source": "Example News",
    "published": "2026-07-13 18:00 UTC",
    "score": 0.87,
    "reason": "matches (0.87 vs 0.50)",
    "terms": ["strike", "grève"],
    "language": "en",
    "kind": "alert",
    "story": {
        "id": 1,
        "outlets": ["Example News", "Le Journal"],
        "outlet_count": 2,
        "article_count": 3,
        "languages": ["en", "fr"],
    },
}


class TemplateProblem(ValueError):
    """A template that does not compile or does not render with the documented variables."""


@cache
def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=html,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def check_template(source: str, *, html: bool = False) -> None:
    """Raise :class:`TemplateProblem` (saying the template's own line) when
    ``source`` does not compile or does not render with :data:`SAMPLE`."""
    environment = _environment(html)
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template does not compile (its line {exc.lineno}): {exc.message}") from None
    try:
        template.render(SAMPLE)
    except TemplateError as exc:
        variables = ", ".join(VARIABLES)
        raise TemplateProblem(f"template does not render: {exc} (variables: {variables})") from None
    except Exception as exc:  # e.g. a filter applied to the wrong type
        raise TemplateProblem(f"template does not render: {type(exc).__name__}: {exc}") from None


def render(source: str, values: Mapping[str, Any], *, html: bool = False) -> str:
    """Render a template checked at load. A failure still raises (the
    sender then falls back to the default rendering)."""
    return _environment(html).from_string(source).render(dict(values))
