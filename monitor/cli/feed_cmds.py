"""Commands: ``monitor feeds import FILE.opml`` and ``monitor feeds export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from monitor.cli import CliContext, pass_cli
from monitor.cli.query_cmds import feeds
from monitor.config.editing import EditError, import_feeds
from monitor.config.opml import OpmlError, read_opml, write_opml


@feeds.command("import")
@click.argument(
    "opml_file", metavar="FILE.opml", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json: one object with added and skipped.",
)
@pass_cli
def feeds_import(cli: CliContext, opml_file: Path, fmt: str) -> None:
    """Add the feeds of an OPML file to the config file in use.

    Its comments and order are kept; folders become each feed's category; a
    URL already in the config is skipped. The file is validated before it is
    replaced, so a failed import changes nothing.
    """
    try:
        document = read_opml(opml_file.read_bytes(), str(opml_file))
        report = import_feeds(cli.config_path, document)
    except (OpmlError, EditError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "config": str(cli.config_path),
                    "added": [
                        {"url": f.url, "name": f.name, "category": f.category, "line": f.line}
                        for f in report.added
                    ],
                    "skipped": [{"line": line, "reason": why} for line, why in report.skipped],
                },
                ensure_ascii=False,
            )
        )
        return
    for feed in report.added:
        where = f" [{feed.category}]" if feed.category else ""
        click.echo(f"added    {feed.name or feed.url}{where}  {feed.url}")
    for line, why in report.skipped:
        click.echo(f"skipped  {opml_file}:{line}: {why}")
    click.echo(f"{len(report.added)} added, {len(report.skipped)} skipped, in {cli.config_path}", err=True)


@feeds.command("export")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout)."
)
@pass_cli
def feeds_export(cli: CliContext, output: Path | None) -> None:
    """Write the config's feeds as OPML 2.0, folders by category.

    Credentials are left out: URLs lose their user:password@, and headers
    and basic auth have no place in OPML.
    """
    text = write_opml(cli.settings.feeds)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"{len(cli.settings.feeds)} feed(s) written to {output}", err=True)
