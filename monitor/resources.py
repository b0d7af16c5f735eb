"""Files shipped inside the ``monitor`` package, found as package resources.

The same lookup serves a checkout (an editable install, or tests run from
it) and an installed wheel, from any working directory: the files travel
with the code, never beside a checkout. The top-level ``seeds`` and
``alembic`` entries of the repository are links to these directories.

* ``migrations/``: the Alembic environment and its versions
  (``monitor db upgrade`` runs them from here);
* ``seeds/``: our hand-written lexicon and examples for the shipped topics,
  the example topics, and ``model.json``, the shipped topic model.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(*parts: str) -> Path:
    """A file or directory shipped in the package, as a path on disk."""
    resource = files("monitor").joinpath(*parts)
    if not isinstance(resource, Path):  # a zip import: Alembic and numpy need real files
        raise RuntimeError(f"monitor must be installed as files on disk to read {'/'.join(parts)}")
    return resource


def migrations_dir() -> Path:
    return shipped("migrations")


def seeds_dir() -> Path:
    return shipped("seeds")
