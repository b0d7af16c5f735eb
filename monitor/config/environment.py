"""Every environment variable the service reads, in one place.

The README's table of environment variables lists :data:`VARIABLES` (a test
keeps the two in step). Besides these, a config file may name any variable
as ``${NAME}`` (secrets in channel URLs); the loader reads those through
:func:`secret`. An empty value counts as unset everywhere: compose's
``${VAR:-}`` defines a missing variable as empty.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str

    def value(self) -> str | None:
        """The value, stripped; None when unset or empty."""
        value = os.environ.get(self.name, "").strip()
        return value or None

    def set_default(self, value: str) -> None:
        """Set the variable for this process and the ones it starts, unless it is set."""
        if self.value() is None:
            os.environ[self.name] = value


CONFIG = Variable("MONITOR_CONFIG", "the config file when `--config` is not given (default `./monitor.yaml`)")
DATABASE_URL = Variable("MONITOR_DATABASE_URL", "replaces `database_url` of the config file")
BROKER_URL = Variable("MONITOR_BROKER_URL", "replaces `broker_url` of the config file (distributed mode)")
LOG_LEVEL = Variable(
    "MONITOR_LOG_LEVEL", "log level, a name (`DEBUG`, `INFO`, …) or a number; wins over `-v`"
)
EMBED_THREADS = Variable(
    "MONITOR_EMBED_THREADS",
    "threads of the embedding model (default: every core; a Celery worker child: 1)",
)
ALERT_REQUEST_INTERVAL = Variable(
    "MONITOR_ALERT_REQUEST_INTERVAL",
    "seconds between two requests to one notification service (default: Apprise's throttle per service)",
)

API_TOKEN = Variable(
    "MONITOR_API_TOKEN",
    "tokens of `monitor serve` (one, or several separated by commas), besides `web.tokens`: "
    "API writes and signing in on the pages need one",
)

VARIABLES = (
    CONFIG,
    DATABASE_URL,
    BROKER_URL,
    LOG_LEVEL,
    EMBED_THREADS,
    ALERT_REQUEST_INTERVAL,
    API_TOKEN,
)


def secret(name: str) -> str | None:
    """A variable a config file names as ``${NAME}``; None when unset or empty."""
    return os.environ.get(name) or None


def log_level() -> int | str | None:
    value = LOG_LEVEL.value()
    if value is None:
        return None
    return int(value) if value.isdigit() else value.upper()


def embed_threads() -> int | None:
    value = EMBED_THREADS.value()
    return None if value is None else int(value)


def alert_request_interval() -> float | None:
    value = ALERT_REQUEST_INTERVAL.value()
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        log.warning("%s is not a number; ignored", ALERT_REQUEST_INTERVAL.name)
        return None


def api_tokens() -> tuple[str, ...]:
    """The tokens of ``MONITOR_API_TOKEN``: comma-separated, blanks dropped."""
    value = API_TOKEN.value()
    if value is None:
        return ()
    return tuple(token.strip() for token in value.split(",") if token.strip())
