"""The AMS catalog: products with prices per price class, bundles, coupons, and who pays which price.

No Flask here. A member's **price class** comes from their record at checkout time: ``member`` (regular
and flex members), ``student``, ``retired`` or ``non_member`` (non-members, prospects, inactive members,
and lapsed members unless ``access.lapsed_pays_member_price``). A product's price for a class is
``prices[class]``, else (students and retirees) ``prices["member"]``, else ``default_price``.

Example::

    price_class = price_class_of(member, settings)
    unit_price = price_for(product, price_class)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.commerce.models import LMS_KINDS, Coupon, Product
from simulator.ams.commerce.schemas import CouponIn, ProductIn, ProductUpdate
from simulator.ams.models import Member
from simulator.core.clock import tenant_now
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.settings import TenantSettings

PRICE_CLASSES = ("member", "student", "retired", "non_member")
_MEMBER_TYPE_CLASS = {"regular": "member", "flex": "member", "student": "student", "retired": "retired"}


def price_class_of(member: Member, settings: TenantSettings) -> str:
    """The price class the member pays today (decided by type and status, see the module docstring)."""
    if member.record_type != "member":
        return "non_member"
    if member.status in ("active", "grace") or (
        member.status == "lapsed" and settings.access.lapsed_pays_member_price
    ):
        return _MEMBER_TYPE_CLASS.get(member.member_type or "regular", "member")
    return "non_member"


def price_for(product: Product, price_class: str) -> int:
    """The unit price of ``product`` for ``price_class`` in minor units."""
    prices = product.prices or {}
    if price_class in prices:
        return int(prices[price_class])
    if price_class in ("student", "retired") and "member" in prices:
        return int(prices["member"])
    return product.default_price


def product_json(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "kind": product.kind,
        "title": product.title,
        "lms_code": product.lms_code,
        "default_price": product.default_price,
        "prices": product.prices,
        "bundle_items": product.bundle_items,
        "active": product.active,
    }


def find_product(session: Session, tenant_id: str, code: str) -> Product | None:
    """An active or inactive product by code, or ``None``."""
    return session.scalar(select(Product).where(Product.tenant_id == tenant_id, Product.code == code))


def get_product(session: Session, tenant_id: str, code: str, field: str = "product_code") -> Product:
    """An active or inactive product by code; unknown codes are a 422 naming ``field``."""
    product = find_product(session, tenant_id, code)
    if product is None:
        raise ValidationFailed(
            f"There is no product '{code}'.",
            code="unknown_product",
            errors=[{"field": field, "message": f"no product '{code}'"}],
        )
    return product


def lms_codes_of(session: Session, tenant_id: str, product: Product) -> list[str]:
    """The LMS course codes a product grants: its own, or those of a bundle's LMS items."""
    if product.kind in LMS_KINDS:
        return [product.lms_code] if product.lms_code else []
    if product.kind != "bundle" or not product.bundle_items:
        return []
    items = session.scalars(
        select(Product).where(Product.tenant_id == tenant_id, Product.code.in_(product.bundle_items))
    )
    return sorted({item.lms_code for item in items if item.kind in LMS_KINDS and item.lms_code})


def list_products(session: Session, tenant_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(Product).where(Product.tenant_id == tenant_id)
    if kind:
        query = query.where(Product.kind == kind)
    return [product_json(product) for product in session.scalars(query.order_by(Product.code))]


def _check_product(session: Session, tenant_id: str, product: Product) -> None:
    if product.kind in LMS_KINDS and not product.lms_code:
        raise ValidationFailed(
            f"A {product.kind} product needs the LMS course code it grants.",
            errors=[{"field": "lms_code", "message": "required for courses and webinars"}],
        )
    if product.kind == "bundle":
        if not product.bundle_items:
            raise ValidationFailed(
                "A bundle must contain products.", errors=[{"field": "bundle_items", "message": "empty"}]
            )
        for code in product.bundle_items:
            item = get_product(session, tenant_id, code, field="bundle_items")
            if item.kind == "bundle":
                raise ValidationFailed(
                    "A bundle cannot contain another bundle.",
                    errors=[{"field": "bundle_items", "message": f"'{code}' is a bundle"}],
                )
    bad = sorted(set(product.prices or {}) - set(PRICE_CLASSES))
    if bad:
        raise ValidationFailed(
            f"Unknown price class: {', '.join(bad)}.",
            errors=[{"field": "prices", "message": f"use {', '.join(PRICE_CLASSES)}"}],
        )


def create_product(session: Session, tenant: Tenant, body: ProductIn) -> dict[str, Any]:
    exists = session.scalar(
        select(Product.pk).where(Product.tenant_id == tenant.id, Product.code == body.code)
    )
    if exists is not None:
        raise Conflict(f"A product '{body.code}' already exists.", code="product_exists")
    product = Product(tenant_id=tenant.id, created_at=tenant_now(tenant), **body.model_dump())
    _check_product(session, tenant.id, product)
    session.add(product)
    session.flush()
    return product_json(product)


def update_product(session: Session, tenant: Tenant, code: str, body: ProductUpdate) -> dict[str, Any]:
    product = find_product(session, tenant.id, code)
    if product is None:
        raise NotFound(f"There is no product '{code}'.", code="product_not_found")
    for name, value in body.model_dump(exclude_unset=True).items():
        setattr(product, name, value)
    _check_product(session, tenant.id, product)
    session.flush()
    return product_json(product)


def coupon_json(coupon: Coupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "percent_off": coupon.percent_off,
        "amount_off": coupon.amount_off,
        "expires_at": coupon.expires_at.isoformat() if coupon.expires_at else None,
        "usage_limit": coupon.usage_limit,
        "times_used": coupon.times_used,
    }


def create_coupon(session: Session, tenant: Tenant, body: CouponIn) -> dict[str, Any]:
    exists = session.scalar(select(Coupon.pk).where(Coupon.tenant_id == tenant.id, Coupon.code == body.code))
    if exists is not None:
        raise Conflict(f"A coupon '{body.code}' already exists.", code="coupon_exists")
    coupon = Coupon(tenant_id=tenant.id, times_used=0, created_at=tenant_now(tenant), **body.model_dump())
    session.add(coupon)
    session.flush()
    return coupon_json(coupon)


def list_coupons(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    coupons = session.scalars(select(Coupon).where(Coupon.tenant_id == tenant_id).order_by(Coupon.code))
    return [coupon_json(coupon) for coupon in coupons]


def usable_coupon(session: Session, tenant: Tenant, code: str) -> Coupon:
    """The coupon ``code`` if it exists, has not expired (business clock) and has uses left."""
    coupon = session.scalar(select(Coupon).where(Coupon.tenant_id == tenant.id, Coupon.code == code))
    problem = None
    if coupon is None:
        problem = ("unknown_coupon", f"There is no coupon '{code}'.")
    elif coupon.expires_at is not None and coupon.expires_at <= tenant_now(tenant):
        problem = (
            "coupon_expired",
            f"The coupon '{code}' expired on {coupon.expires_at.date().isoformat()}.",
        )
    elif coupon.usage_limit is not None and coupon.times_used >= coupon.usage_limit:
        problem = ("coupon_used_up", f"The coupon '{code}' has been used as often as it may be.")
    if problem is not None:
        raise ValidationFailed(
            problem[1], code=problem[0], errors=[{"field": "coupon", "message": problem[1]}]
        )
    assert coupon is not None
    return coupon


def discount_of(coupon: Coupon, subtotal: int) -> int:
    """What ``coupon`` takes off ``subtotal`` (never more than the subtotal; percent rounds half up)."""
    if coupon.percent_off is not None:
        return min(subtotal, (subtotal * coupon.percent_off + 50) // 100)
    return min(subtotal, coupon.amount_off or 0)
