"""Storage: SQLAlchemy models, engines and the idempotent insert."""

from monitor.storage.db import (
    affected_rows,
    create_db_engine,
    insert_ignore,
    make_session_factory,
    run_in_transaction,
    transaction,
)
from monitor.storage.models import (
    Article,
    Base,
    Delivery,
    DeliveryState,
    Feed,
    Feedback,
    FeedStatus,
    Match,
    Notice,
    utcnow,
)

__all__ = [
    "Article",
    "Base",
    "Delivery",
    "DeliveryState",
    "Feed",
    "FeedStatus",
    "Feedback",
    "Match",
    "Notice",
    "affected_rows",
    "create_db_engine",
    "insert_ignore",
    "make_session_factory",
    "run_in_transaction",
    "transaction",
    "utcnow",
]
