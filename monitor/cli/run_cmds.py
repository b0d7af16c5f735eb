"""Commands: run_cmds."""

from __future__ import annotations
