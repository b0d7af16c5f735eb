"""Alert templates: checked at load (file:line), sandboxed, autoescaped in
HTML, and used for a real send."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, load_config_text
from monitor.templates import SAMPLE, TemplateProblem, check_template, render


def test_a_template_renders_the_documented_variables() -> None:
    source = (
        "{{ topic }} | {{ title }} | {{ link }} | {{ source }} | {{ published }} | {{ '%.2f' % score }} | "
        "{{ reason }} | {{ terms | join(', ') }} | {{ language }} | {{ kind }} | "
        "{{ story.outlet_count }} outlets: {{ story.outlets | join(', ') }} ({{ story.article_count }} articles, "
        "{{ story.languages | join('/') }})"
    )
    check_template(source)
    assert render(source, SAMPLE) == (
        "Strike negotiations | Actors' union calls a strike | https://news.example/strike | Example News | "
        "2026-07-13 18:00 UTC | 0.87 | matches (0.87 vs 0.50) | strike, grève | en | alert | "
        "2 outlets: Example News, Le Journal (3 articles, en/fr)"
    )


def test_html_templates_escape_feed_text() -> None:
    values = {**SAMPLE, "title": "<script>alert(1)</script> & co"}
    assert (
        render("<b>{{ title }}</b>", values, html=True)
        == "<b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</b>"
    )
    assert render("{{ title }}", values) == "<script>alert(1)</script> & co"  # text: no escaping


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ title ", "does not compile (its line 1)"),
        ("line one\n{% if topic %}\nno end", "does not compile (its line 3)"),
        ("{{ titel }}", "'titel' is undefined"),
        ("{{ story.outlet_cuont }}", "has no attribute 'outlet_cuont'"),
        ("{{ ''.__class__.__mro__ }}", "does not render"),
        ("{{ terms.append('x') }}", "does not render"),
    ],
)
def test_a_broken_or_unsafe_template_is_refused(source: str, says: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        check_template(source)
    assert says in str(caught.value)


def test_a_broken_template_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "channels:\n"
        "  - name: desk\n"
        "    url: json://127.0.0.1:9/x\n"
        "    template:\n"
        "      title: '[{{ topic }}] {{ title }}'\n"
        "      body: |\n"
        "        {{ link }}\n"
        "        {% for t in terms %}{{ t }}\n"
        "topics:\n"
        "  - id: strikes\n"
        "    name: Strikes\n"
        "    model: rules\n"
        "    rules: {any: [strike]}\n"
        "    template: {title: '{{ nope }}'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = caught.value.problems
    assert problems == [
        f"{config}:6: channels[0].template.body: template does not compile (its line 2): "
        "Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. "
        "The innermost block that needs to be closed is 'for'.",
        f"{config}:14: topics[0].template.title: template does not render: 'nope' is undefined "
        "(variables: topic, topic_id, title, link, source, published, score, reason, terms, language, kind, story)",
    ]


def test_a_good_template_loads() -> None:
    settings = load_config_text(
        "channels:\n  - name: desk\n    url: json://127.0.0.1:9/x\n"
        "    template: {title: 'x', body: '<p>{{ title }}</p>', format: html}\n"
    )
    template = settings.channels[0].template
    assert template is not None and template.format == "html"
