"""Commands: ``learn`` and ``topics show``: what the topic model learned."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from monitor.cli import CliContext, main, pass_cli
from monitor.cli.progress import progress_bar, wanted
from monitor.matching.model import topic_summary


def format_summary(summary: dict[str, Any]) -> list[str]:
    lines = [f"{summary['id']}  ({summary['name']})"]
    per_file = ", ".join(f"{s['file']} {s['kept']}/{s['passages']}" for s in summary["seeds"])
    lines.append(
        f"  seeds: {len(summary['seeds'])} files, {summary['passages_kept']} of "
        f"{summary['passages']} passages kept" + (f" ({per_file})" if per_file else "")
    )
    if summary["negatives"]:
        lines.append(f"  negatives: {summary['negatives']} files")
    if summary["curated_gate"]:
        gates = " | ".join(" & ".join(conj) for conj in summary["curated_gate"])
        lines.append(f"  gate (hand-written lexicon): {gates}")
    for kind in ("gate", "evidence"):
        for lang, terms in summary[kind].items():
            label = f"  {kind} {lang}:"
            lines.append(f"{label:16} {', '.join(terms) if terms else '(none)'}")
    if summary["pairs"]:
        pairs = "; ".join(f"{a} → {b}" for a, b in summary["pairs"][:20])
        lines.append(f"  pairs:          {pairs}")
    lines.append(
        f"  threshold:      {summary['threshold']:.2f} on the score "
        f"(calibrated center {summary['center']:+.3f} on the raw score)"
    )
    return lines


@main.command()
@click.option("--no-lexicon", is_flag=True, help="Leave out the hand-written lexicon and examples (curated).")
@click.option("--no-feedback", is_flag=True, help="Ignore stored feedback.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Artifact to write (default: model_path from the config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was learned as one JSON object.")
@pass_cli
def learn(cli: CliContext, no_lexicon: bool, no_feedback: bool, output: Path | None, as_json: bool) -> None:
    """Learn every topic from its seeds, negatives, description and stored feedback."""
    from monitor.matching.inputs import LearnError
    from monitor.matching.relearn import learn_and_write

    settings = cli.settings
    if not settings.topics:
        click.echo("error: no topics in the config", err=True)
        raise SystemExit(2)
    started = time.monotonic()
    try:
        with progress_bar("embedding seeds", enabled=wanted(as_json)) as progress:
            learned = learn_and_write(
                settings,
                lexicon=not no_lexicon,
                use_feedback=not no_feedback,
                output=output,
                progress=progress,
            )
    except LearnError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    data, path, size, feedback = learned.data, learned.path, learned.size, learned.feedback
    summaries = [topic_summary(entry, data["version"]) for entry in data["topics"]]
    elapsed = time.monotonic() - started
    if as_json:
        click.echo(
            json.dumps(
                {
                    "model_version": data["version"],
                    "path": str(path),
                    "bytes": size,
                    "feedback": feedback,
                    "lexicon": bool(data["inputs"]["curated"]),
                    "seconds": round(elapsed, 1),
                    "topics": summaries,
                },
                ensure_ascii=False,
            )
        )
        return
    for summary in summaries:
        for line in format_summary(summary):
            click.echo(line)
    click.echo(
        f"{data['version']}: wrote {path} ({size:,} bytes; {feedback} feedback judgements"
        f"{'; hand-written lexicon' if data['inputs']['curated'] else ''}) in {elapsed:.0f} s"
    )


@main.group()
def topics() -> None:
    """The configured topics and what the model learned for them."""


@topics.command("show")
@click.argument("topic_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def topics_show(cli: CliContext, topic_id: str, as_json: bool) -> None:
    """What was learned for TOPIC_ID: terms per language, threshold, seeds, model version."""
    from monitor.matching import active_model_path
    from monitor.matching.model import ModelError, load_model

    settings = cli.settings
    if topic_id not in {t.id for t in settings.topics}:
        raise click.UsageError(f"unknown topic {topic_id!r}")
    path = active_model_path(settings)
    try:
        model = load_model(path)
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    entry = None if model is None else next((t for t in model.data["topics"] if t["id"] == topic_id), None)
    if model is None or entry is None:
        click.echo(f"error: {topic_id} has not been learned yet ({path}): run `monitor learn`", err=True)
        raise SystemExit(1)
    summary = topic_summary(entry, model.version)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    for line in format_summary(summary):
        click.echo(line)
    click.echo(f"  model:          {model.version} ({path})")
