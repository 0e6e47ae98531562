"""LMS service provider: SP keys, pending AuthnRequests, seen assertions, OIDC client registrations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "lms_sp_keys",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _tenant_fk("lms_sp_keys"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_lms_sp_keys")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_lms_sp_keys_tenant_id")),
        info={"survives_reset": True},
    )
    op.create_table(
        "lms_saml_requests",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("relay_state", sa.String(length=2048), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        _tenant_fk("lms_saml_requests"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_lms_saml_requests")),
        sa.UniqueConstraint("tenant_id", "request_id", name=op.f("uq_lms_saml_requests_tenant_id_request_id")),
    )
    with op.batch_alter_table("lms_saml_requests", schema=None) as batch_op:
        batch_op.create_index("ix_lms_saml_requests_expires", ["expires_at"], unique=False)
    op.create_table(
        "lms_saml_seen_assertions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        _tenant_fk("lms_saml_seen_assertions"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_lms_saml_seen_assertions")),
        sa.UniqueConstraint(
            "tenant_id", "assertion_id", name=op.f("uq_lms_saml_seen_assertions_tenant_id_assertion_id")
        ),
    )
    with op.batch_alter_table("lms_saml_seen_assertions", schema=None) as batch_op:
        batch_op.create_index("ix_lms_saml_seen_assertions_expires", ["expires_at"], unique=False)
    op.create_table(
        "lms_oidc_clients",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret", sa.String(length=500), nullable=True),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _tenant_fk("lms_oidc_clients"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_lms_oidc_clients")),
        sa.UniqueConstraint("tenant_id", "issuer", name=op.f("uq_lms_oidc_clients_tenant_id_issuer")),
        info={"survives_reset": True},
    )


def downgrade() -> None:
    op.drop_table("lms_oidc_clients")
    with op.batch_alter_table("lms_saml_seen_assertions", schema=None) as batch_op:
        batch_op.drop_index("ix_lms_saml_seen_assertions_expires")
    op.drop_table("lms_saml_seen_assertions")
    with op.batch_alter_table("lms_saml_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_lms_saml_requests_expires")
    op.drop_table("lms_saml_requests")
    op.drop_table("lms_sp_keys")
