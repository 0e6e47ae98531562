"""AMS commerce tables: catalog, coupons, carts, orders, seats, payments, the ledger, the LMS link.

Money is always an integer number of minor units (cents) in the tenant's currency. Rows are tenant-owned
(``tenant_id``) and are emptied by a tenant reset like every other table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import BigId, tenant_fk

PRODUCT_KINDS = ("course", "webinar", "bundle", "book", "event_ticket", "membership_dues")
LMS_KINDS = ("course", "webinar")
ORDER_STATUSES = ("paid", "invoiced", "partially_refunded", "refunded", "cancelled")
ORDER_CHANNELS = ("web", "api", "phone", "bulk")
LEDGER_ACCOUNTS = ("cash", "receivables", "revenue", "refunds")


class Product(Base):
    """Something the association sells; course and webinar products name an LMS course by ``lms_code``.

    ``prices`` maps a price class (``member``, ``student``, ``retired``, ``non_member``) to minor units;
    ``default_price`` applies to any class not listed. A bundle lists the codes it contains.
    """

    __tablename__ = "ams_products"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    lms_code: Mapped[str | None] = mapped_column(String(40))
    default_price: Mapped[int] = mapped_column(Integer)
    prices: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    bundle_items: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Coupon(Base):
    """A discount code: ``percent_off`` or ``amount_off`` (minor units), optional expiry and usage limit."""

    __tablename__ = "ams_coupons"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    code: Mapped[str] = mapped_column(String(40))
    percent_off: Mapped[int | None] = mapped_column(Integer)
    amount_off: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CartItem(Base):
    """One product in a member's cart (the cart is stored, so it survives logout)."""

    __tablename__ = "ams_cart_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id", "product_code"),
        {"info": {"member_data": "transient"}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CartCoupon(Base):
    """The coupon code applied to a member's cart, if any."""

    __tablename__ = "ams_cart_coupons"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id"), {"info": {"member_data": "transient"}})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(32))
    coupon_code: Mapped[str] = mapped_column(String(40))


class Order(Base):
    """A placed order: who bought (a member, or an organisation for bulk seats), how, and what it cost."""

    __tablename__ = "ams_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_ams_orders_tenant_member", "tenant_id", "member_id"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    number: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(32))
    organisation_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    payment_method: Mapped[str] = mapped_column(String(8))
    po_number: Mapped[str | None] = mapped_column(String(60))
    price_class: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    discount: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    paid_amount: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    coupon_code: Mapped[str | None] = mapped_column(String(40))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OrderLine(Base):
    """One product of an order at the price charged; ``refunded`` lines no longer grant access."""

    __tablename__ = "ams_order_lines"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    order_pk: Mapped[int] = mapped_column(ForeignKey("ams_orders.pk", ondelete="CASCADE"), index=True)
    product_code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    lms_codes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(Integer)
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)


class Seat(Base):
    """One seat of a bulk order, assigned to a member of the buying organisation (or still free)."""

    __tablename__ = "ams_seats"
    __table_args__ = (Index("ix_ams_seats_tenant_member", "tenant_id", "member_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    order_pk: Mapped[int] = mapped_column(ForeignKey("ams_orders.pk", ondelete="CASCADE"), index=True)
    lms_codes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    member_id: Mapped[str | None] = mapped_column(String(32))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One side of a balanced ledger transaction (``txn``): a debit or a credit to one account."""

    __tablename__ = "ams_ledger_entries"
    __table_args__ = (
        Index("ix_ams_ledger_entries_order", "tenant_id", "order_number"),
        Index("ix_ams_ledger_entries_member", "tenant_id", "member_id"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    txn: Mapped[str] = mapped_column(String(40))
    order_number: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(20))
    debit: Mapped[int] = mapped_column(Integer, default=0)
    credit: Mapped[int] = mapped_column(Integer, default=0)
    memo: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LmsCredential(Base):
    """The digest of the key the LMS uses to pull entitlements (issued when the tenant is seeded)."""

    __tablename__ = "ams_lms_credentials"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
