"""Commands: ``classify``, ``eval``, ``feedback``, ``backtest`` (``learn`` is in topic_cmds)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.config import Settings, parse_duration


def _topics_or_exit(settings: Settings) -> None:
    if not settings.topics:
        click.echo("error: no topics in the config", err=True)
        raise SystemExit(2)


def _matcher(settings: Settings) -> Any:
    from monitor.matching import build_matcher
    from monitor.matching.model import ModelError

    try:
        return build_matcher(settings)
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


@main.command()
@click.argument("text", required=False)
@click.option(
    "--file",
    "file_",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read the text from a file ('-' for standard input).",
)
@click.option("--title", default="", help="A title, classified together with the text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def classify(cli: CliContext, text: str | None, file_: Any, title: str, as_json: bool) -> None:
    """Score a text against every topic (argument, --file, or standard input)."""
    from monitor.matching.base import ArticleText

    settings = cli.settings
    _topics_or_exit(settings)
    if text is None:
        text = file_.read() if file_ is not None else sys.stdin.read()
    matcher = _matcher(settings)
    (row,) = matcher.classify([ArticleText(title, text.strip())])
    if as_json:
        click.echo(
            json.dumps(
                {
                    "model_version": matcher.version,
                    "topics": [
                        {
                            "topic": d.topic_id,
                            "score": d.score,
                            "threshold": d.threshold,
                            "matched": d.matched,
                            "evidence": d.evidence,
                        }
                        for d in row
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for d in row:
        mark = "MATCH" if d.matched else "-----"
        click.echo(f"{mark} {d.topic_id:24} {d.score:.3f} (threshold {d.threshold:.2f})")
        click.echo(f"      {d.evidence.get('reason', '')}")
        terms = d.evidence.get("terms") or []
        if terms:
            click.echo(f"      terms: {', '.join(terms)}")
        passage = d.evidence.get("nearest_passage") or {}
        if passage:
            click.echo(
                f"      nearest seed passage: {passage['seed']} #{passage['passage']} "
                f"(cosine {passage['similarity']:.3f})"
            )
    click.echo(f"model {matcher.version}")


@main.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--topics",
    "topic_list",
    default=None,
    metavar="ID[,ID]",
    help="Score only these topics (a labelled file may cover some topics only). Default: all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_cli
def eval_cmd(cli: CliContext, file: Path, topic_list: str | None, as_json: bool) -> None:
    """Precision, recall and F1 per topic on labelled JSON Lines (title + summary)."""
    from monitor.cli.progress import progress_bar, wanted
    from monitor.matching import active_model_path
    from monitor.matching.evaluate import evaluate, format_report, read_records

    settings = cli.settings
    _topics_or_exit(settings)
    configured = [t.id for t in settings.topics]
    chosen = configured
    if topic_list:
        chosen = [t.strip() for t in topic_list.split(",") if t.strip()]
        unknown = [t for t in chosen if t not in configured]
        if unknown or not chosen:
            raise click.BadParameter(
                f"unknown topic(s) {', '.join(unknown) or '(none given)'}; configured: {', '.join(configured)}",
                param_hint="--topics",
            )
    try:
        records = read_records(file)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    matcher = _matcher(settings)
    missing = [t for t in matcher.unlearned() if t in chosen]
    if missing:
        # Scoring them would report F1 0 as if the classifier had failed.
        click.echo(
            f"error: topic(s) {', '.join(missing)} not in the topic model {matcher.version.split('+')[0]} "
            f"({active_model_path(settings)}): run `monitor learn` first",
            err=True,
        )
        raise SystemExit(2)
    with progress_bar("scoring", enabled=wanted(as_json)) as progress:
        result = evaluate(matcher, records, chosen, progress=progress)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(format_report(result))


@main.command()
@click.argument("article_id", type=int)
@click.argument("topic")
@click.option("--relevant/--not-relevant", default=None, help="The judgement.")
@pass_cli
def feedback(cli: CliContext, article_id: int, topic: str, relevant: bool | None) -> None:
    """Record whether ARTICLE_ID is relevant to TOPIC (used by the next `monitor learn`)."""
    from monitor.matching.feedback import FeedbackError, record_feedback
    from monitor.storage import run_in_transaction

    if relevant is None:
        raise click.UsageError("say --relevant or --not-relevant")
    settings = cli.settings
    if topic not in {t.id for t in settings.topics}:
        raise click.UsageError(f"unknown topic {topic!r}")
    try:
        with cli.sessions() as factory:
            changed = run_in_transaction(factory, lambda s: record_feedback(s, article_id, topic, relevant))
    except FeedbackError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    word = "relevant" if relevant else "not relevant"
    click.echo(
        f"article {article_id} marked {word} for {topic}"
        + ("" if changed else " (unchanged)")
        + "; run `monitor learn` to use it"
    )


@main.command()
@click.argument("topic")
@click.option(
    "--since", default="30d", show_default=True, help="Articles fetched in this window (e.g. 7d, 12h)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def backtest(cli: CliContext, topic: str, since: str, as_json: bool) -> None:
    """Re-score stored articles for TOPIC; show what would now match or stop matching. Sends nothing."""
    from monitor.matching.backtest import backtest as run

    settings = cli.settings
    if topic not in {t.id for t in settings.topics}:
        raise click.UsageError(f"unknown topic {topic!r}")
    try:
        window = timedelta(seconds=parse_duration(since))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    matcher = _matcher(settings)
    with cli.sessions() as factory, factory() as session:
        result = run(session, matcher, topic, window)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "topic": topic,
                    "since": result.since.isoformat(),
                    "scanned": result.scanned,
                    "model_version": matcher.version,
                    "kept": result.kept,
                    "new": [r.__dict__ for r in result.new],
                    "gone": [r.__dict__ for r in result.gone],
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return
    click.echo(
        f"{topic}: {result.scanned} articles since {result.since:%Y-%m-%d %H:%M} "
        f"re-scored with {matcher.version}"
    )
    click.echo(
        f"  still matching: {result.kept}; would now match: {len(result.new)}; "
        f"would stop matching: {len(result.gone)}"
    )
    for r in result.new:
        click.echo(f"  + {r.article_id}: {r.title[:80]} ({r.score:.2f} >= {r.threshold:.2f})")
    for r in result.gone:
        click.echo(f"  - {r.article_id}: {r.title[:80]} ({r.score:.2f} < {r.threshold:.2f}; {r.reason})")
