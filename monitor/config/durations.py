"""Durations in the config: a number of seconds or ``90s``, ``15m``, ``2h``, ``7d``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

DURATION_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use a number with s, m, h or d)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def _duration_schema(number: dict[str, float]) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number", **number}, {"type": "string", "pattern": DURATION_PATTERN}],
            "description": "seconds, or a number with s, m, h or d (90s, 15m, 2h, 7d)",
        }
    )


# Seconds, written as a number or with a unit.
Duration = Annotated[float, BeforeValidator(parse_duration), _duration_schema({"exclusiveMinimum": 0})]
# A time between two polls: one second at least.
PollInterval = Annotated[
    float, BeforeValidator(parse_duration), Field(ge=1), _duration_schema({"minimum": 1})
]
