"""writeback indexes: one member-first natural key instead of a natural key plus a member index

Hand-written. ``ams_writeback_records`` carried two indexes that both spread a delivery's rows over every
member — the natural key (tenant, destination, member, activity, date) and ``ix_…_member`` (tenant,
member, destination) — so a bulk of 500 records dirtied about 1,300 pages per commit. The natural key is
now unique on (tenant, member, destination, activity, date): the same uniqueness, and it also serves the
transcript's lookups by member, so the member index goes (about 630 pages per commit of 500).

SQLite cannot drop a table constraint in place: there the table is rebuilt (a copy, in the migration's
transaction); PostgreSQL alters it in place.

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NATURAL_KEY = 'uq_ams_writeback_records_natural_key'
MEMBER_INDEX = 'ix_ams_writeback_records_member'


def upgrade() -> None:
    """Make the natural key member-first and drop the member index it replaces."""
    op.drop_index(MEMBER_INDEX, table_name='ams_writeback_records')
    with op.batch_alter_table('ams_writeback_records', schema=None) as batch_op:
        batch_op.drop_constraint(NATURAL_KEY, type_='unique')
        batch_op.create_unique_constraint(
            NATURAL_KEY, ['tenant_id', 'member_id', 'destination', 'activity_code', 'completed_on']
        )


def downgrade() -> None:
    """Back to the destination-first natural key and the member index."""
    with op.batch_alter_table('ams_writeback_records', schema=None) as batch_op:
        batch_op.drop_constraint(NATURAL_KEY, type_='unique')
        batch_op.create_unique_constraint(
            NATURAL_KEY, ['tenant_id', 'destination', 'member_id', 'activity_code', 'completed_on']
        )
    op.create_index(MEMBER_INDEX, 'ams_writeback_records', ['tenant_id', 'member_id', 'destination'])
