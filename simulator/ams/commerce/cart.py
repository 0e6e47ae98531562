"""Carts and quotes: a member's stored cart, and the priced breakdown of any list of products.

No Flask here. The cart is rows in the database (it survives logout). A **quote** prices items for one
buyer at the tenant's business time: the member's price class, each line's unit price, what a bundle
saves against its items bought one by one, the coupon's discount and the total (minor units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from simulator.ams.commerce.catalog import (
    discount_of,
    get_product,
    lms_codes_of,
    price_class_of,
    price_for,
    usable_coupon,
)
from simulator.ams.commerce.models import CartCoupon, CartItem, Product
from simulator.ams.models import Member
from simulator.ams.service import find_member
from simulator.core.clock import tenant_now
from simulator.core.db import INT32_MAX
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.tenancy import tenant_settings


@dataclass(frozen=True)
class Item:
    product_code: str
    quantity: int


def quote(
    session: Session, tenant: Tenant, member: Member | None, items: list[Item], coupon_code: str | None
) -> dict[str, Any]:
    """The priced breakdown of ``items`` for ``member`` (``None``: an organisation, default prices)."""
    settings = tenant_settings(tenant)
    price_class = price_class_of(member, settings) if member is not None else "default"
    lines = []
    for index, item in enumerate(items):
        if item.quantity < 1:
            raise ValidationFailed(
                "Quantities must be at least 1.",
                code="invalid_quantity",
                errors=[{"field": f"items.{index}.quantity", "message": "must be ≥ 1"}],
            )
        product = get_product(session, tenant.id, item.product_code, field=f"items.{index}.product_code")
        if not product.active:
            raise ValidationFailed(
                f"The product '{product.code}' is no longer sold.",
                code="product_unavailable",
                errors=[{"field": f"items.{index}.product_code", "message": "not active"}],
            )
        unit = product.default_price if member is None else price_for(product, price_class)
        line: dict[str, Any] = {
            "product_code": product.code,
            "title": product.title,
            "kind": product.kind,
            "lms_codes": lms_codes_of(session, tenant.id, product),
            "unit_price": unit,
            "quantity": item.quantity,
            "line_total": unit * item.quantity,
        }
        if product.kind == "bundle":
            line["bundle_saving"] = _bundle_saving(session, tenant.id, product, price_class, unit)
        lines.append(line)
    subtotal = sum(line["line_total"] for line in lines)
    if subtotal > INT32_MAX:
        raise ValidationFailed(
            f"The subtotal ({subtotal} minor units) is larger than an order can hold ({INT32_MAX}).",
            code="amount_too_large",
            errors=[{"field": "items", "message": f"subtotal over {INT32_MAX}"}],
        )
    discount = 0
    if coupon_code:
        discount = discount_of(usable_coupon(session, tenant, coupon_code), subtotal)
    return {
        "member_id": member.member_id if member is not None else None,
        "price_class": price_class,
        "currency": settings.currency,
        "lines": lines,
        "subtotal": subtotal,
        "coupon": coupon_code,
        "discount": discount,
        "total": subtotal - discount,
        "priced_at": tenant_now(tenant).isoformat(),
    }


def _bundle_saving(session: Session, tenant_id: str, bundle: Product, price_class: str, unit: int) -> int:
    items = session.scalars(
        select(Product).where(Product.tenant_id == tenant_id, Product.code.in_(bundle.bundle_items))
    )
    separately = sum(
        item.default_price if price_class == "default" else price_for(item, price_class) for item in items
    )
    return max(0, separately - unit)


def cart_items(session: Session, tenant_id: str, member_id: str) -> tuple[list[Item], str | None]:
    rows = session.scalars(
        select(CartItem)
        .where(CartItem.tenant_id == tenant_id, CartItem.member_id == member_id)
        .order_by(CartItem.pk)
    )
    coupon = session.scalar(
        select(CartCoupon.coupon_code).where(
            CartCoupon.tenant_id == tenant_id, CartCoupon.member_id == member_id
        )
    )
    return [Item(row.product_code, row.quantity) for row in rows], coupon


def view_cart(session: Session, tenant: Tenant, member_id: str) -> dict[str, Any]:
    """The member's cart, priced for them now."""
    member = find_member(session, tenant.id, member_id)
    items, coupon = cart_items(session, tenant.id, member_id)
    return quote(session, tenant, member, items, coupon)


def add_to_cart(session: Session, tenant: Tenant, member_id: str, product_code: str, quantity: int) -> None:
    """Add ``quantity`` of a product (adds up with what is already in the cart)."""
    find_member(session, tenant.id, member_id)
    product = get_product(session, tenant.id, product_code)
    if not product.active:
        raise ValidationFailed(
            f"The product '{product_code}' is no longer sold.",
            code="product_unavailable",
            errors=[{"field": "product_code", "message": "not active"}],
        )
    row = _cart_line(session, tenant.id, member_id, product_code)
    if row is None:
        session.add(
            CartItem(
                tenant_id=tenant.id,
                member_id=member_id,
                product_code=product_code,
                quantity=quantity,
                added_at=tenant_now(tenant),
            )
        )
    else:
        row.quantity += quantity
    session.flush()


def _cart_line(session: Session, tenant_id: str, member_id: str, product_code: str) -> CartItem | None:
    return session.scalar(
        select(CartItem).where(
            CartItem.tenant_id == tenant_id,
            CartItem.member_id == member_id,
            CartItem.product_code == product_code,
        )
    )


def set_quantity(session: Session, tenant: Tenant, member_id: str, product_code: str, quantity: int) -> None:
    """Set a cart line's quantity; 0 removes it."""
    find_member(session, tenant.id, member_id)
    row = _cart_line(session, tenant.id, member_id, product_code)
    if row is None:
        raise NotFound(f"'{product_code}' is not in the cart.", code="not_in_cart")
    if quantity == 0:
        session.delete(row)
    else:
        row.quantity = quantity
    session.flush()


def apply_coupon(session: Session, tenant: Tenant, member_id: str, code: str | None) -> None:
    """Put a coupon on the cart (checked now, and again at checkout), or take it off (``None``)."""
    find_member(session, tenant.id, member_id)
    session.execute(
        delete(CartCoupon).where(CartCoupon.tenant_id == tenant.id, CartCoupon.member_id == member_id)
    )
    if code is not None:
        usable_coupon(session, tenant, code)
        session.add(CartCoupon(tenant_id=tenant.id, member_id=member_id, coupon_code=code))
    session.flush()


def empty_cart(session: Session, tenant_id: str, member_id: str) -> None:
    session.execute(delete(CartItem).where(CartItem.tenant_id == tenant_id, CartItem.member_id == member_id))
    session.execute(
        delete(CartCoupon).where(CartCoupon.tenant_id == tenant_id, CartCoupon.member_id == member_id)
    )
