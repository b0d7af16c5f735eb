"""feeds the way operators run them: adaptive schedule, per-host cap, full text, retention indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:00:00

articles.fetched_at and matches (created_at, ...) are indexed by 0003 already:
retention's batched deletes use those indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('schedule_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('schedule_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('ttl_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('queued_until', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feeds_host'), ['host'], unique=False)

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('body_note', sa.String(length=300), nullable=True))

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_created_at')

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('body_note')
        batch_op.drop_column('body')

    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feeds_host'))
        batch_op.drop_column('queued_until')
        batch_op.drop_column('ttl_seconds')
        batch_op.drop_column('schedule_reason')
        batch_op.drop_column('schedule_seconds')
        batch_op.drop_column('category')
        batch_op.drop_column('host')
