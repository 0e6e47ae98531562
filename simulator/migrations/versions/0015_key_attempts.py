"""failed key attempts: wrong API keys are counted per client in the database, so every process locks it out

Hand-written. ``failed_key_attempts`` holds one row per refused API key, with the client (remote address)
that sent it and the moment it stops counting; a client with too many live rows is refused by every app
process on every host that shares the database.

Revision ID: 0015
Revises: 0014
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLE = 'failed_key_attempts'
CLIENT_INDEX = 'ix_failed_key_attempts_client_expires'
EXPIRES_INDEX = 'ix_failed_key_attempts_expires'


def upgrade() -> None:
    """Create the failed-attempt table, indexed by client and by expiry (for the purge)."""
    op.create_table(
        TABLE,
        sa.Column(
            'id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False
        ),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=f'pk_{TABLE}'),
    )
    op.create_index(CLIENT_INDEX, TABLE, ['client', 'expires_at'], unique=False)
    op.create_index(EXPIRES_INDEX, TABLE, ['expires_at'], unique=False)


def downgrade() -> None:
    """Drop the failed-attempt table."""
    op.drop_index(EXPIRES_INDEX, table_name=TABLE)
    op.drop_index(CLIENT_INDEX, table_name=TABLE)
    op.drop_table(TABLE)
