"""Storage: every SQL statement of the service, one module per domain.

* ``models``: the tables (SQLAlchemy 2), their unique constraints and the
  state enums; ``db``: engines, transactions and ``insert_ignore``;
  ``migrate``: the Alembic migrations shipped in the package.
* ``feeds``: the configured feeds, which are due, the per-feed poll lease
  and poll outcomes; ``articles``: articles (insert-ignore), pending
  classification, matches and feedback; ``outbox``: alerts and operator
  notices, sent by one lease protocol.
* ``views``: the read models the CLI and the HTTP API both show.
* ``story_models``: stories, the per-story alert gate, digests, mutes and
  hourly counts; ``stories``: grouping's rows and the gate;
  ``story_views``: the story read models; ``digests``: the digest outbox;
  ``volume``: mutes and ``max_per_hour`` slots.

Stages own their transactions (``run_in_transaction``) and call these
functions inside them.
"""

from monitor.storage import story_models  # noqa: F401  (their tables join Base.metadata)
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
