"""outbox: which worker holds a claim and made each attempt; abandoned attempts have no latency

Hand-written. ``outbox_messages.claimed_by`` names the worker holding the current claim, so that when its
lease runs out the next claim can record the unfinished attempt as abandoned by that worker;
``outbox_attempts.worker`` names the worker of every attempt, and ``latency_ms`` may be empty (an
abandoned attempt got no answer to time).

SQLite cannot relax NOT NULL in place: there ``outbox_attempts`` is rebuilt (a copy, in the migration's
transaction); PostgreSQL alters it in place.

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add claimed_by and worker; let latency_ms be empty."""
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
    with op.batch_alter_table('outbox_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sa.String(length=200), nullable=True))
        batch_op.alter_column('latency_ms', existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    """Drop claimed_by and worker; abandoned attempts get a latency of 0 so latency_ms is required again."""
    op.execute('UPDATE outbox_attempts SET latency_ms = 0 WHERE latency_ms IS NULL')
    with op.batch_alter_table('outbox_attempts', schema=None) as batch_op:
        batch_op.alter_column('latency_ms', existing_type=sa.Float(), nullable=False)
        batch_op.drop_column('worker')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
