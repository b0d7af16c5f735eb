"""Commands: config_cmds."""

from __future__ import annotations
