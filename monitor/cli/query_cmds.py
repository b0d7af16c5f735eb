"""Commands: query_cmds."""

from __future__ import annotations
