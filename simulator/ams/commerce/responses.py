"""Response documents of the commerce API (pydantic; no Flask here). Money is integer minor units.

They describe what :mod:`~simulator.ams.commerce.catalog`, :mod:`~simulator.ams.commerce.cart`,
:mod:`~simulator.ams.commerce.orders`, :mod:`~simulator.ams.commerce.ledger` and
:mod:`~simulator.ams.commerce.entitlements` return; the views hand those dicts on unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from simulator.ams.commerce.schemas import OrderStatus, ProductKind

PriceClass = Literal["member", "student", "retired", "non_member", "default"]
PRICE_CLASS = (
    "member, student, retired or non_member (from the buyer's record); `default` for an organisation, "
    "which pays default prices."
)


class Product(BaseModel):
    code: str
    kind: ProductKind
    title: str
    lms_code: str | None = Field(..., description="The LMS course code a course or webinar grants.")
    default_price: int = Field(..., description="For any price class not in `prices`.")
    prices: dict[str, int] = Field(..., description="Unit price per price class.")
    bundle_items: list[str] = Field(..., description="Product codes a bundle contains.")
    active: bool = Field(..., description="Sold now; inactive products cannot be bought.")


class ProductList(BaseModel):
    items: list[Product]


class CatalogImport(BaseModel):
    """Product codes, per outcome, of an import of the LMS catalog."""

    created: list[str] = Field(..., description="New products for new LMS courses.")
    updated: list[str] = Field(..., description="Products whose title or kind changed.")
    unchanged: list[str]
    skipped: list[str] = Field(..., description="LMS course codes a non-course product already uses.")


class Coupon(BaseModel):
    code: str
    percent_off: int | None
    amount_off: int | None
    expires_at: dt.datetime | None = Field(..., description="Business time; null: never expires.")
    usage_limit: int | None = Field(..., description="null: unlimited.")
    times_used: int


class CouponList(BaseModel):
    items: list[Coupon]


class QuoteLine(BaseModel):
    product_code: str
    title: str
    kind: ProductKind
    lms_codes: list[str] = Field(..., description="LMS course codes the line grants.")
    unit_price: int
    quantity: int
    line_total: int
    bundle_saving: int | None = Field(
        None, description="Bundles only: what the bundle saves against its items bought one by one."
    )


class Cart(BaseModel):
    """A cart priced for its member at the tenant's business time."""

    member_id: str | None
    price_class: PriceClass = Field(..., description=PRICE_CLASS)
    currency: str
    lines: list[QuoteLine]
    subtotal: int
    coupon: str | None
    discount: int = Field(..., description="What the coupon takes off the subtotal.")
    total: int
    priced_at: dt.datetime = Field(..., description="Business time of the pricing.")


class OrderLine(BaseModel):
    product_code: str
    kind: ProductKind
    title: str
    lms_codes: list[str]
    unit_price: int
    quantity: int
    line_total: int
    refunded: bool


class Seats(BaseModel):
    total: int
    assigned: list[str] = Field(..., description="Member ids holding a seat.")


class LedgerEntry(BaseModel):
    txn: str = Field(..., description="The transaction; its entries balance (debits = credits).")
    account: Literal["cash", "receivables", "revenue", "refunds"]
    debit: int
    credit: int
    memo: str
    posted_at: dt.datetime


class Balances(BaseModel):
    accounts: dict[str, int] = Field(
        ..., description="Debit − credit per account: cash, receivables, revenue, refunds."
    )
    amount_due: int = Field(..., description="Invoiced and not yet paid (the receivables balance).")
    net_sales: int = Field(..., description="Revenue less refunds.")
    balanced: bool = Field(..., description="The accounts sum to zero, as double entry requires.")


class Order(BaseModel):
    number: str = Field(..., description="O-YYMMDD-NNNNNNNN: business date, then the tenant's sequence.")
    member_id: str | None = Field(..., description="The buyer; null for a bulk order.")
    organisation_id: str | None = Field(..., description="The buying organisation of a bulk order.")
    channel: Literal["api", "web", "phone", "bulk"]
    entered_by: str | None = Field(..., description="The staff member who entered a phone order.")
    status: OrderStatus
    payment_method: Literal["card", "po"]
    po_number: str | None
    price_class: PriceClass = Field(..., description=PRICE_CLASS)
    currency: str
    subtotal: int
    discount: int
    total: int
    paid_amount: int
    refunded_amount: int
    amount_due: int = Field(..., description="What an invoiced order still owes; 0 otherwise.")
    coupon: str | None
    gateway_charge_id: str | None = Field(..., description="The card charge; null for purchase orders.")
    created_at: dt.datetime
    paid_at: dt.datetime | None
    lines: list[OrderLine]
    seats: Seats | None = Field(..., description="Bulk orders only.")


class OrderDetail(Order):
    """An order with its ledger entries and balances."""

    ledger: list[LedgerEntry]
    balance: Balances


class OrderList(BaseModel):
    items: list[Order]


class EntitlementSource(BaseModel):
    course_code: str
    order: str = Field(..., description="The order number the entitlement comes from.")
    product_code: str | None = Field(..., description="The order line; null for a seat.")
    source: Literal["order", "seat"] = Field(..., description="Bought by the member, or a bulk order seat.")


class Entitlements(BaseModel):
    member_id: str
    course_codes: list[str] = Field(..., description="LMS course codes the member may use, sorted.")
    sources: list[EntitlementSource]
    as_of: dt.datetime = Field(..., description="Business time of the computation.")
    version: int = Field(..., description="Larger for a set computed later (wall-clock microseconds).")
