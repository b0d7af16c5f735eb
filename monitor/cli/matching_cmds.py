"""Commands: matching_cmds."""

from __future__ import annotations
