"""Operator notices: conditions a person should hear about once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from monitor.storage.db import insert_ignore
from monitor.storage.models import Notice, utcnow


def add_notice(session: Session, key: str, kind: str, message: str, *, at: datetime | None = None) -> bool:
    """Record a notice once per ``key`` (however many workers see the
    condition); True when this call created it."""
    inserted = insert_ignore(
        session,
        Notice.__table__,  # type: ignore[arg-type]
        [{"key": key, "kind": kind, "message": message, "created_at": at or utcnow()}],
        returning=["id"],
    )
    return bool(inserted)
