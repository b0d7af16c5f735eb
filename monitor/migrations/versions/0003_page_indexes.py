"""page indexes and per-feed poll counters

The pages and the API list matches newest first by keyset (created_at, id),
deliveries by state and id, and /metrics reads recent classifications and
sends; each needs its index. On PostgreSQL, trigram indexes (pg_trgm) answer
word searches. Polls are counted by outcome on the feed's own row (see
monitor.storage.models.Feed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLL_COUNTERS = ('polls_ok', 'polls_not_modified', 'polls_failed')
SEARCHED = ('title', 'summary')


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        for name in POLL_COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_matches_created_id', 'matches', ['created_at', 'id', 'article_id'], unique=False)
    op.create_index('ix_articles_fetched_at', 'articles', ['fetched_at'], unique=False)
    op.create_index('ix_deliveries_state_id', 'deliveries', ['state', 'id'], unique=False)
    op.create_index('ix_deliveries_sent_at', 'deliveries', ['sent_at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for column in SEARCHED:
            op.create_index(
                f'ix_articles_{column}_trgm', 'articles', [column], unique=False,
                postgresql_using='gin', postgresql_ops={column: 'gin_trgm_ops'},
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for column in SEARCHED:
            op.drop_index(f'ix_articles_{column}_trgm', table_name='articles')
    op.drop_index('ix_deliveries_sent_at', table_name='deliveries')
    op.drop_index('ix_deliveries_state_id', table_name='deliveries')
    op.drop_index('ix_articles_fetched_at', table_name='articles')
    op.drop_index('ix_matches_created_id', table_name='matches')
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        for name in reversed(POLL_COUNTERS):
            batch_op.drop_column(name)
