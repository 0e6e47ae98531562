"""oidc nonce index: the authorize endpoint's nonce replay check no longer scans every code

Hand-written. ``exists_nonce`` looks codes up by (tenant, client, nonce) on every authorize request;
without an index that was a walk over every code the tenant ever issued, slower with every login.

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NONCE_INDEX = 'ix_idp_oidc_codes_nonce'


def upgrade() -> None:
    """Index the codes by tenant, client and nonce."""
    op.create_index(NONCE_INDEX, 'idp_oidc_codes', ['tenant_id', 'client_id', 'nonce'], unique=False)


def downgrade() -> None:
    """Drop the nonce index."""
    op.drop_index(NONCE_INDEX, table_name='idp_oidc_codes')
