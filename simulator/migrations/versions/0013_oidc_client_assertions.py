"""oidc client assertions: a used private_key_jwt jti is refused in every process, not only the one it reached

Hand-written. ``idp_oidc_client_assertions`` records each accepted client assertion's ``jti`` (as a digest)
until the assertion expires; a replay breaks its unique constraint in whichever process it arrives.

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLE = 'idp_oidc_client_assertions'
EXPIRES_INDEX = 'ix_idp_oidc_client_assertions_expires'


def upgrade() -> None:
    """Create the used-assertion table, unique per (tenant, client, jti), indexed by expiry."""
    op.create_table(
        TABLE,
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=63), nullable=False),
        sa.Column('client_id', sa.String(length=100), nullable=False),
        sa.Column('jti_digest', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=f'fk_{TABLE}_tenant_id_tenants', ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('pk', name=f'pk_{TABLE}'),
        sa.UniqueConstraint(
            'tenant_id', 'client_id', 'jti_digest', name=f'uq_{TABLE}_tenant_id_client_id_jti_digest'
        ),
    )
    op.create_index(EXPIRES_INDEX, TABLE, ['tenant_id', 'expires_at'], unique=False)


def downgrade() -> None:
    """Drop the used-assertion table."""
    op.drop_index(EXPIRES_INDEX, table_name=TABLE)
    op.drop_table(TABLE)
