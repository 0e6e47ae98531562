"""Request documents of the commerce API (pydantic; no Flask here). Money is integer minor units."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulator.core.db import INT32_MAX
from simulator.core.web import RequestParameters, TenantPath

Amount = Annotated[int, Field(ge=0, le=INT32_MAX)]
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
ProductKind = Literal["course", "webinar", "bundle", "book", "event_ticket", "membership_dues"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(_Body):
    code: str = Field(..., pattern=CODE)
    kind: ProductKind
    title: str = Field(..., min_length=1, max_length=200)
    lms_code: str | None = Field(None, pattern=CODE, description="LMS course code (courses, webinars).")
    default_price: int = Field(
        ..., ge=0, le=INT32_MAX, description="Minor units, for any price class not in `prices`."
    )
    prices: dict[str, Amount] = Field(
        default_factory=dict, description="member, student, retired, non_member."
    )
    bundle_items: list[str] = Field(default_factory=list, max_length=50)
    active: bool = True

    @model_validator(mode="after")
    def _non_negative_prices(self) -> ProductIn:
        if any(value < 0 for value in self.prices.values()):
            raise ValueError("prices cannot be negative")
        return self


class ProductUpdate(_Body):
    title: str | None = Field(None, min_length=1, max_length=200)
    default_price: int | None = Field(None, ge=0, le=INT32_MAX)
    prices: dict[str, Amount] | None = None
    bundle_items: list[str] | None = Field(None, max_length=50)
    active: bool | None = None

    @field_validator("title", "default_price", "prices", "bundle_items", "active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null (leave the field out to keep it)")
        return value


class ProductPath(TenantPath):
    code: str = Field(..., max_length=40)


class ProductQuery(RequestParameters, _Body):
    kind: ProductKind | None = None


class CouponIn(_Body):
    code: str = Field(..., pattern=CODE)
    percent_off: int | None = Field(None, ge=1, le=100)
    amount_off: int | None = Field(None, ge=1, le=INT32_MAX)
    expires_at: dt.datetime | None = Field(None, description="Business time (ISO 8601; no zone means UTC).")
    usage_limit: int | None = Field(None, ge=1, le=INT32_MAX)

    @model_validator(mode="after")
    def _one_discount(self) -> CouponIn:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            self.expires_at = self.expires_at.replace(tzinfo=dt.UTC)
        return self


class CartPath(TenantPath):
    member_id: str = Field(..., max_length=32)


class CartItemPath(CartPath):
    product_code: str = Field(..., max_length=40)


class CartItemIn(_Body):
    product_code: str = Field(..., max_length=40)
    quantity: int = Field(1, ge=1, le=1000)


class CartItemUpdate(_Body):
    quantity: int = Field(..., ge=0, le=1000, description="0 removes the item.")


class CouponApply(_Body):
    code: str | None = Field(..., max_length=40, description="null removes the coupon.")


class PaymentIn(_Body):
    """Pay by card token, or by purchase order (invoiced, paid later)."""

    card_token: str | None = Field(None, max_length=40)
    challenge_response: str | None = Field(None, max_length=40, description="For the challenge test card.")
    po_number: str | None = Field(None, min_length=1, max_length=60)

    @model_validator(mode="after")
    def _one_method(self) -> PaymentIn:
        if (self.card_token is None) == (self.po_number is None):
            raise ValueError("give exactly one of card_token and po_number")
        return self


class CheckoutIn(_Body):
    payment: PaymentIn
    expected_total: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="The total the buyer saw; a different total is refused (price_mismatch).",
    )


class OrderLineIn(_Body):
    product_code: str = Field(..., max_length=40)
    quantity: int = Field(1, ge=1, le=1000)


class PhoneOrderIn(_Body):
    """An order a staff member enters for a member (needs `X-Staff-Member`)."""

    items: list[OrderLineIn] = Field(..., min_length=1, max_length=100)
    coupon: str | None = Field(None, max_length=40)
    payment: PaymentIn
    expected_total: int | None = Field(None, ge=0, le=INT32_MAX)


class BulkOrderIn(_Body):
    product_code: str = Field(..., max_length=40)
    seats: int = Field(..., ge=1, le=10_000)
    payment: PaymentIn
    expected_total: int | None = Field(None, ge=0, le=INT32_MAX)


class OrganisationPath(TenantPath):
    org_id: str = Field(..., max_length=32)


class OrderPath(TenantPath):
    number: str = Field(..., max_length=40)


OrderStatus = Literal["paid", "invoiced", "partially_refunded", "refunded", "cancelled"]


class OrderQuery(RequestParameters, _Body):
    member_id: str | None = Field(None, max_length=32)
    status: OrderStatus | None = Field(None, description="Only orders in this status.")
    newest_first: bool = Field(False, description="Newest order first (default: oldest first).")
    limit: int = Field(100, ge=1, le=500)


class RefundIn(_Body):
    product_code: str | None = Field(None, max_length=40, description="Refund this line only.")
    reason: str | None = Field(None, max_length=200)


class PoPaymentIn(_Body):
    amount: int = Field(..., gt=0, le=INT32_MAX)
    reference: str | None = Field(None, max_length=100)


class SeatAssignIn(_Body):
    member_id: str = Field(..., max_length=32)


class LedgerQuery(RequestParameters, _Body):
    member_id: str | None = Field(None, max_length=32)
    order: str | None = Field(None, max_length=40)


def dump(model: BaseModel) -> dict[str, Any]:
    """The request as JSON (for idempotency digests)."""
    return model.model_dump(mode="json")
