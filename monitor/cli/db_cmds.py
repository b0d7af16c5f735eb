"""Commands: db_cmds."""

from __future__ import annotations
