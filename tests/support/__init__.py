"""Real loopback servers and helpers shared by the tests (no mocks of clients).

* ``support.smtp_server.SmtpServer``: aiosmtpd on 127.0.0.1, collects mail.
* ``support.webhook_receiver.WebhookReceiver``: scripted webhook for Apprise
  ``json://`` tests.
* ``support.feed_server.FeedServer``: scripted feed server (ETag/304, redirects,
  hang, drip, endless and gzip bodies, request log) for the ingest tests.
* ``shared_path(*parts)``: the same as ``tests.conftest.shared_path`` (kept for
  helpers that must not import the database fixtures).

Import them from the ``tests`` package::

    from tests.conftest import shared_path
    from tests.support.feed_server import FeedServer
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A file of the read-only material beside the repository (../shared).

    Same rule as ``tests/conftest.py``'s ``shared_path`` (``MONITOR_SHARED_DIR``
    overrides the location); a missing file fails the test, it never skips.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared material missing: {path} (set MONITOR_SHARED_DIR)")
    return path
