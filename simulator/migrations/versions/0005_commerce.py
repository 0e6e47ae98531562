"""commerce: catalog, coupons, carts, orders, seats, ledger, payment gateway stub, LMS purchase sync

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:00:00

Hand-written from the commerce models only; branches from 0004 beside other work (the app upgrades to
every head).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Create the AMS commerce, gateway and LMS purchase-sync tables."""
    op.create_table('ams_cart_coupons',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('coupon_code', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_cart_coupons_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_cart_coupons')),
    sa.UniqueConstraint('tenant_id', 'member_id', name=op.f('uq_ams_cart_coupons_tenant_id_member_id'))
    )
    op.create_table('ams_cart_items',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=40), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_cart_items_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_cart_items')),
    sa.UniqueConstraint('tenant_id', 'member_id', 'product_code', name=op.f('uq_ams_cart_items_tenant_id_member_id_product_code'))
    )
    op.create_table('ams_coupons',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('percent_off', sa.Integer(), nullable=True),
    sa.Column('amount_off', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('usage_limit', sa.Integer(), nullable=True),
    sa.Column('times_used', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_coupons_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_coupons')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_ams_coupons_tenant_id_code'))
    )
    op.create_table('ams_ledger_entries',
    sa.Column('pk', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('txn', sa.String(length=40), nullable=False),
    sa.Column('order_number', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=True),
    sa.Column('account', sa.String(length=20), nullable=False),
    sa.Column('debit', sa.Integer(), nullable=False),
    sa.Column('credit', sa.Integer(), nullable=False),
    sa.Column('memo', sa.String(length=200), nullable=False),
    sa.Column('posted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_ledger_entries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_ledger_entries'))
    )
    op.create_table('ams_lms_credentials',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_lms_credentials_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_lms_credentials')),
    sa.UniqueConstraint('key_digest', name=op.f('uq_ams_lms_credentials_key_digest'))
    )
    op.create_table('ams_orders',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=True),
    sa.Column('organisation_id', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('entered_by', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payment_method', sa.String(length=8), nullable=False),
    sa.Column('po_number', sa.String(length=60), nullable=True),
    sa.Column('price_class', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('subtotal', sa.Integer(), nullable=False),
    sa.Column('discount', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('paid_amount', sa.Integer(), nullable=False),
    sa.Column('refunded_amount', sa.Integer(), nullable=False),
    sa.Column('coupon_code', sa.String(length=40), nullable=True),
    sa.Column('gateway_charge_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_orders_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_orders')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_ams_orders_tenant_id_number'))
    )
    op.create_table('ams_products',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('lms_code', sa.String(length=40), nullable=True),
    sa.Column('default_price', sa.Integer(), nullable=False),
    sa.Column('prices', JSON, nullable=False),
    sa.Column('bundle_items', JSON, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_products_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_products')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_ams_products_tenant_id_code'))
    )
    op.create_table('gateway_cards',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('brand', sa.String(length=20), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('behaviour', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gateway_cards_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_gateway_cards')),
    sa.UniqueConstraint('tenant_id', 'token', name=op.f('uq_gateway_cards_tenant_id_token'))
    )
    op.create_table('gateway_charges',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('charge_id', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decline_code', sa.String(length=40), nullable=True),
    sa.Column('refunded_amount', sa.Integer(), nullable=False),
    sa.Column('refunds', JSON, nullable=False),
    sa.Column('description', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gateway_charges_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_gateway_charges')),
    sa.UniqueConstraint('tenant_id', 'charge_id', name=op.f('uq_gateway_charges_tenant_id_charge_id'))
    )
    op.create_table('gateway_idempotency_keys',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gateway_idempotency_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_gateway_idempotency_keys')),
    sa.UniqueConstraint('tenant_id', 'scope', 'key', name=op.f('uq_gateway_idempotency_keys_tenant_id_scope_key'))
    )
    op.create_table('gateway_secrets',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gateway_secrets_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_gateway_secrets')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_gateway_secrets_tenant_id'))
    )
    op.create_table('lms_ams_links',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('ams_url', sa.String(length=2000), nullable=False),
    sa.Column('api_key', sa.String(length=200), nullable=False),
    sa.Column('webhook_secret', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lms_ams_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lms_ams_links')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_lms_ams_links_tenant_id'))
    )
    op.create_table('lms_purchase_grants',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('course_code', sa.String(length=40), nullable=False),
    sa.Column('granted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lms_purchase_grants_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lms_purchase_grants')),
    sa.UniqueConstraint('tenant_id', 'member_id', 'course_code', name=op.f('uq_lms_purchase_grants_tenant_id_member_id_course_code'))
    )
    op.create_table('lms_purchase_sync_states',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lms_purchase_sync_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lms_purchase_sync_states')),
    sa.UniqueConstraint('tenant_id', 'member_id', name=op.f('uq_lms_purchase_sync_states_tenant_id_member_id'))
    )
    op.create_table('lms_purchase_webhooks',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('webhook_id', sa.String(length=120), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lms_purchase_webhooks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lms_purchase_webhooks')),
    sa.UniqueConstraint('tenant_id', 'webhook_id', name=op.f('uq_lms_purchase_webhooks_tenant_id_webhook_id'))
    )
    op.create_table('ams_order_lines',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('lms_codes', JSON, nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('line_total', sa.Integer(), nullable=False),
    sa.Column('refunded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['order_pk'], ['ams_orders.pk'], name=op.f('fk_ams_order_lines_order_pk_ams_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_order_lines_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_order_lines'))
    )
    op.create_table('ams_seats',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=False),
    sa.Column('lms_codes', JSON, nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=True),
    sa.Column('assigned_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_pk'], ['ams_orders.pk'], name=op.f('fk_ams_seats_order_pk_ams_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ams_seats_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ams_seats'))
    )
    op.create_index('ix_ams_ledger_entries_member', 'ams_ledger_entries', ['tenant_id', 'member_id'], unique=False)
    op.create_index('ix_ams_ledger_entries_order', 'ams_ledger_entries', ['tenant_id', 'order_number'], unique=False)
    op.create_index('ix_ams_orders_tenant_member', 'ams_orders', ['tenant_id', 'member_id'], unique=False)
    op.create_index(op.f('ix_ams_order_lines_order_pk'), 'ams_order_lines', ['order_pk'], unique=False)
    op.create_index(op.f('ix_ams_seats_order_pk'), 'ams_seats', ['order_pk'], unique=False)
    op.create_index('ix_ams_seats_tenant_member', 'ams_seats', ['tenant_id', 'member_id'], unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_table('ams_seats')
    op.drop_table('ams_order_lines')
    op.drop_table('lms_purchase_webhooks')
    op.drop_table('lms_purchase_sync_states')
    op.drop_table('lms_purchase_grants')
    op.drop_table('lms_ams_links')
    op.drop_table('gateway_secrets')
    op.drop_table('gateway_idempotency_keys')
    op.drop_table('gateway_charges')
    op.drop_table('gateway_cards')
    op.drop_table('ams_products')
    op.drop_table('ams_orders')
    op.drop_table('ams_lms_credentials')
    op.drop_table('ams_ledger_entries')
    op.drop_table('ams_coupons')
    op.drop_table('ams_cart_items')
    op.drop_table('ams_cart_coupons')
