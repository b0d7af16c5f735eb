"""Fixtures of the fault cases: one disposable ``Rig`` per test, on the
session's throwaway PostgreSQL database and a redis-server of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.faults.harness import Rig

MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig(postgres_url: str, tmp_path: Path) -> Iterator[MakeRig]:
    """``make_rig(appendonly=False, smtp=False)``: a started rig, ended after the test."""
    with ExitStack() as stack:

        def make(**options: bool) -> Rig:
            return stack.enter_context(Rig(tmp_path, postgres_url, **options))

        yield make
