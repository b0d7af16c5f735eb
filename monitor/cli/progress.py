"""Progress of long commands (learn, eval, backtest) on a terminal.

A bar on standard error when it is a terminal; nothing when it is not (a
pipe, a log file, CI) or when the command prints JSON, so what a program
reads stays clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Progress = Callable[[int, int], None]


def wanted(quiet: bool = False) -> bool:
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[Progress | None]:
    """A ``(done, total)`` callback drawing a bar, or None when disabled."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar: Any = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="text", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()
