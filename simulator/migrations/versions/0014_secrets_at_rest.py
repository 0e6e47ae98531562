"""secrets at rest: private keys, API keys and shared secrets are stored encrypted

Hand-written. Every column holding a secret becomes TEXT (an encrypted value is longer than the plain
one), and every secret already stored in the clear is encrypted with the sandbox's secret key
(:mod:`simulator.core.secrets_at_rest`: ``SANDBOX_SECRET_KEY``, else ``data_dir/secret_key``), as are the
``*secret`` members of the tenants' settings documents. The key is the one the process running the
migration set up first (``sandbox migrate``, ``up`` and ``worker`` do); a database that holds no secret
needs none.

SQLite cannot change a column's type in place: there the tables are rebuilt (a copy, in the migration's
transaction; env.py turns foreign keys off, so rebuilding ``outbox_endpoints`` keeps its messages);
PostgreSQL alters them in place. Downgrading decrypts every secret and narrows the columns again.

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Callable
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from simulator.core import secrets_at_rest

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TEXT_SECRETS = (
    # table, primary key, column, length before (None: already TEXT), nullable
    ('idp_signing_keys', 'pk', 'private_key_pem', None, False),
    ('lms_sp_keys', 'pk', 'private_key_pem', None, False),
    ('lms_oidc_clients', 'pk', 'client_secret', 500, True),
    ('lms_ams_links', 'pk', 'api_key', 200, False),
    ('lms_ams_links', 'pk', 'webhook_secret', 200, False),
    ('gateway_secrets', 'pk', 'secret', 100, False),
    ('ams_inbox_secrets', 'id', 'secret', 200, False),
    ('outbox_endpoints', 'id', 'secret', 200, False),
)
DOCUMENTS = (('tenants', 'id', 'settings'), ('tenants', 'id', 'initial_settings'))
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    """Widen the secret columns to TEXT, then encrypt every secret stored in the clear."""
    _retype(widen=True)
    _change_every_secret(_is_plain, _encrypt)


def downgrade() -> None:
    """Decrypt every secret, then narrow the columns back to their old lengths."""
    _change_every_secret(secrets_at_rest.is_encrypted, _decrypt)
    _retype(widen=False)


def _is_plain(value: str) -> bool:
    return not secrets_at_rest.is_encrypted(value)


def _encrypt(value: str) -> str:
    return secrets_at_rest.installed_keyring().encrypt(value)  # asked for only when a secret is found


def _decrypt(value: str) -> str:
    return secrets_at_rest.installed_keyring().decrypt(value)


def _change_every_secret(wanted: Callable[[str], bool], change: Callable[[str], str]) -> None:
    for table, key, column, _length, _nullable in TEXT_SECRETS:
        _change_texts(table, key, column, wanted, change)
    for table, key, column in DOCUMENTS:
        _change_documents(table, key, column, wanted, change)


def _retype(widen: bool) -> None:
    by_table: dict[str, list[tuple[str, int, bool]]] = {}
    for table, _key, column, length, nullable in TEXT_SECRETS:
        if length is not None:
            by_table.setdefault(table, []).append((column, length, nullable))
    for table, columns in by_table.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length, nullable in columns:
                narrow, wide = sa.String(length=length), sa.Text()
                batch_op.alter_column(
                    column,
                    existing_type=narrow if widen else wide,
                    type_=wide if widen else narrow,
                    existing_nullable=nullable,
                )


def _change_texts(
    table: str, key: str, column: str, wanted: Callable[[str], bool], change: Callable[[str], str]
) -> None:
    rows = sa.table(table, sa.column(key), sa.column(column, sa.Text()))
    connection = op.get_bind()
    found = connection.execute(sa.select(rows.c[key], rows.c[column]).where(rows.c[column].is_not(None)))
    for pk, value in found.all():
        if wanted(value):
            connection.execute(rows.update().where(rows.c[key] == pk).values({column: change(value)}))


def _change_documents(
    table: str, key: str, column: str, wanted: Callable[[str], bool], change: Callable[[str], str]
) -> None:
    rows = sa.table(table, sa.column(key), sa.column(column, JSON_DOCUMENT))
    connection = op.get_bind()
    for pk, document in connection.execute(sa.select(rows.c[key], rows.c[column])).all():
        if any(wanted(value) for value in secrets_at_rest.secret_members(document)):
            changed = secrets_at_rest.map_secret_members(
                document, lambda value: change(value) if wanted(value) else value
            )
            connection.execute(rows.update().where(rows.c[key] == pk).values({column: changed}))
