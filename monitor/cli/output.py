"""Rows for programs: ``--format json`` (one object a line) and ``--format csv``
(a header, then a row per item), shared by the listing commands."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

Item = TypeVar("Item")


def emit_for_programs(
    fmt: str,
    items: Sequence[Item],
    *,
    as_json: Callable[[Item], dict[str, Any]],
    header: Sequence[str],
    as_row: Callable[[Item], Sequence[object]],
) -> bool:
    """Print ``items`` as JSON lines or CSV; False for ``table`` (the
    caller prints its own table for people)."""
    if fmt == "json":
        for item in items:
            click.echo(json.dumps(as_json(item), ensure_ascii=False))
        return True
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(list(header))
        for item in items:
            writer.writerow(list(as_row(item)))
        return True
    return False
