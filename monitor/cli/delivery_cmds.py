"""Commands: delivery_cmds."""

from __future__ import annotations
