"""Orders: checkout, phone and bulk orders, purchase orders, refunds, cancellation and seats.

No Flask here. Each call runs in the caller's transaction and validates before it writes: the quote is
computed (unknown product, bad quantity, expired coupon and price mismatch are refused first), then the
card is charged, then order, lines, seats, ledger postings and the LMS notification are written. A
decline raises (402) and the caller rolls the whole transaction back: no half-made order or payment.

Example::

    order = place_order(session, tenant, Purchase(member=member, items=items, payment=payment))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from simulator.ams.commerce import ledger
from simulator.ams.commerce.cart import Item, cart_items, empty_cart, quote
from simulator.ams.commerce.catalog import usable_coupon
from simulator.ams.commerce.entitlements import notify_lms
from simulator.ams.commerce.models import Order, OrderLine, Seat
from simulator.ams.commerce.schemas import PaymentIn
from simulator.ams.gateway.service import ChallengeRequired, charge_card, refund_charge
from simulator.ams.models import Member, Organisation
from simulator.ams.service import find_member
from simulator.core.clock import tenant_now
from simulator.core.db import serialize_in_transaction
from simulator.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.tenancy import tenant_settings

ORDER_SEQUENCE_DIGITS = 8


@dataclass
class Purchase:
    """What is being bought, by whom, how it is paid, and who entered it."""

    items: list[Item]
    payment: PaymentIn
    member: Member | None = None
    organisation: Organisation | None = None
    coupon: str | None = None
    expected_total: int | None = None
    channel: str = "api"
    entered_by: str | None = None


def order_json(session: Session, order: Order) -> dict[str, Any]:
    lines = session.scalars(select(OrderLine).where(OrderLine.order_pk == order.pk).order_by(OrderLine.pk))
    seats = list(session.scalars(select(Seat).where(Seat.order_pk == order.pk).order_by(Seat.pk)))
    return {
        "number": order.number,
        "member_id": order.member_id,
        "organisation_id": order.organisation_id,
        "channel": order.channel,
        "entered_by": order.entered_by,
        "status": order.status,
        "payment_method": order.payment_method,
        "po_number": order.po_number,
        "price_class": order.price_class,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount": order.discount,
        "total": order.total,
        "paid_amount": order.paid_amount,
        "refunded_amount": order.refunded_amount,
        "amount_due": order.total - order.paid_amount if order.status == "invoiced" else 0,
        "coupon": order.coupon_code,
        "gateway_charge_id": order.gateway_charge_id,
        "created_at": order.created_at.isoformat(),
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "lines": [
            {
                "product_code": line.product_code,
                "kind": line.kind,
                "title": line.title,
                "lms_codes": line.lms_codes,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "line_total": line.line_total,
                "refunded": line.refunded,
            }
            for line in lines
        ],
        "seats": {
            "total": len(seats),
            "assigned": [seat.member_id for seat in seats if seat.member_id],
        }
        if seats
        else None,
    }


def next_order_number(session: Session, tenant_id: str, now: dt.datetime) -> str:
    """``O-YYMMDD-NNNNNNNN``: the business date, then the tenant's order sequence (1, 2, …, eight digits).

    The same story in a fresh tenant gives the same numbers. The sequence is the tenant's order count
    plus one, read while no other transaction can place an order in the tenant: SQLite's write
    transactions already hold the database lock (``BEGIN IMMEDIATE``); on PostgreSQL a transaction-level
    advisory lock per tenant serialises order numbering until commit, so two concurrent checkouts never
    take the same number (the unique ``(tenant_id, number)`` constraint stays the last guard).
    """
    serialize_in_transaction(session, "ams-order-number", tenant_id)
    placed = session.scalar(select(func.count()).select_from(Order).where(Order.tenant_id == tenant_id))
    return f"O-{now:%y%m%d}-{(placed or 0) + 1:0{ORDER_SEQUENCE_DIGITS}d}"


def require_staff(session: Session, tenant_id: str, staff_member_id: str | None) -> str:
    """The id of a staff member (``roles`` holds ``staff``) entering an order by phone, else 403."""
    if not staff_member_id:
        raise Forbidden(
            "Phone orders are entered by staff: send 'X-Staff-Member: <staff member id>'.",
            code="staff_required",
        )
    member = session.scalar(
        select(Member).where(Member.tenant_id == tenant_id, Member.member_id == staff_member_id)
    )
    if member is None or "staff" not in (member.roles or []):
        raise Forbidden(f"'{staff_member_id}' is not a staff member of this association.", code="not_staff")
    return member.member_id


def place_order(session: Session, tenant: Tenant, purchase: Purchase) -> dict[str, Any]:
    """Price, charge (card) or invoice (PO), and record an order; see the module docstring."""
    priced = quote(session, tenant, purchase.member, purchase.items, purchase.coupon)
    if purchase.expected_total is not None and purchase.expected_total != priced["total"]:
        raise ValidationFailed(
            f"The total is {priced['total']}, not {purchase.expected_total}: review the cart and try again.",
            code="price_mismatch",
            errors=[{"field": "expected_total", "message": f"the total now is {priced['total']}"}],
        )
    now = tenant_now(tenant)
    number = next_order_number(session, tenant.id, now)
    charge_id = None
    if purchase.payment.card_token is not None and priced["total"] > 0:
        charge = charge_card(
            session,
            tenant,
            purchase.payment.card_token,
            priced["total"],
            f"Order {number}",
            purchase.payment.challenge_response,
        )
        if charge["status"] == "requires_action":
            raise ChallengeRequired(
                "The card asks for an extra verification step: send the checkout again with "
                "'payment.challenge_response' (the test answer is 'pass')."
            )
        charge_id = charge["id"]
    if purchase.coupon:
        usable_coupon(session, tenant, purchase.coupon).times_used += 1
    by_card = purchase.payment.card_token is not None
    order = Order(
        tenant_id=tenant.id,
        number=number,
        member_id=purchase.member.member_id if purchase.member else None,
        organisation_id=purchase.organisation.org_id if purchase.organisation else None,
        channel=purchase.channel,
        entered_by=purchase.entered_by,
        status="paid" if by_card else "invoiced",
        payment_method="card" if by_card else "po",
        po_number=purchase.payment.po_number,
        price_class=priced["price_class"],
        currency=priced["currency"],
        subtotal=priced["subtotal"],
        discount=priced["discount"],
        total=priced["total"],
        paid_amount=priced["total"] if by_card else 0,
        refunded_amount=0,
        coupon_code=purchase.coupon,
        gateway_charge_id=charge_id,
        created_at=now,
        paid_at=now if by_card else None,
    )
    session.add(order)
    session.flush()
    for line in priced["lines"]:
        session.add(
            OrderLine(
                tenant_id=tenant.id,
                order_pk=order.pk,
                product_code=line["product_code"],
                kind=line["kind"],
                title=line["title"],
                lms_codes=line["lms_codes"],
                unit_price=line["unit_price"],
                quantity=line["quantity"],
                line_total=line["line_total"],
                refunded=False,
            )
        )
        if purchase.organisation is not None:
            session.add_all(
                Seat(tenant_id=tenant.id, order_pk=order.pk, lms_codes=line["lms_codes"])
                for _ in range(line["quantity"])
            )
    if order.total > 0:
        debit = "cash" if by_card else "receivables"
        ledger.post(session, order, debit, "revenue", order.total, f"order {number}", now)
    if by_card:
        notify_lms(session, tenant, "order.paid", order, "paid")
    elif tenant_settings(tenant).commerce.access_before_payment:
        notify_lms(session, tenant, "order.invoiced", order, "invoiced")
    session.flush()
    return order_json(session, order)


def checkout_cart(
    session: Session,
    tenant: Tenant,
    member_id: str,
    payment: PaymentIn,
    expected_total: int | None,
    channel: str,
) -> dict[str, Any]:
    """Place an order for everything in the member's cart, then empty the cart."""
    member = find_member(session, tenant.id, member_id)
    items, coupon = cart_items(session, tenant.id, member_id)
    if not items:
        raise ValidationFailed(
            "The cart is empty.", code="cart_empty", errors=[{"field": "cart", "message": "empty"}]
        )
    purchase = Purchase(
        items, payment, member=member, coupon=coupon, expected_total=expected_total, channel=channel
    )
    order = place_order(session, tenant, purchase)
    empty_cart(session, tenant.id, member_id)
    return order


def get_organisation(session: Session, tenant_id: str, org_id: str) -> Organisation:
    organisation = session.scalar(
        select(Organisation).where(Organisation.tenant_id == tenant_id, Organisation.org_id == org_id)
    )
    if organisation is None:
        raise NotFound(f"There is no organisation '{org_id}'.", code="organisation_not_found")
    return organisation


def load_order(session: Session, tenant_id: str, number: str) -> Order:
    order = session.scalar(select(Order).where(Order.tenant_id == tenant_id, Order.number == number))
    if order is None:
        raise NotFound(f"There is no order '{number}'.", code="order_not_found")
    return order


def list_orders(
    session: Session,
    tenant_id: str,
    member_id: str | None,
    limit: int,
    status: str | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """At most ``limit`` orders, oldest first (or newest first), optionally one member's or one status."""
    query = select(Order).where(Order.tenant_id == tenant_id)
    if member_id:
        query = query.where(Order.member_id == member_id)
    if status:
        query = query.where(Order.status == status)
    order_by = Order.pk.desc() if newest_first else Order.pk
    return [order_json(session, order) for order in session.scalars(query.order_by(order_by).limit(limit))]


def record_po_payment(session: Session, tenant: Tenant, number: str, amount: int) -> dict[str, Any]:
    """Record a payment against an invoiced purchase order; paid in full, it becomes ``paid``."""
    order = load_order(session, tenant.id, number)
    if order.status != "invoiced":
        raise Conflict(
            f"Order {number} is {order.status}; only invoiced orders take payments.", code="not_invoiced"
        )
    due = order.total - order.paid_amount
    if amount > due:
        raise ValidationFailed(
            f"Only {due} is due on order {number}.",
            code="overpayment",
            errors=[{"field": "amount", "message": f"at most {due}"}],
        )
    now = tenant_now(tenant)
    order.paid_amount += amount
    txn = ledger.post(session, order, "cash", "receivables", amount, f"payment on PO {order.po_number}", now)
    if order.paid_amount == order.total:
        order.status, order.paid_at = "paid", now
        notify_lms(session, tenant, "order.paid", order, txn)
    return order_json(session, order)


def refund_order(session: Session, tenant: Tenant, number: str, product_code: str | None) -> dict[str, Any]:
    """Refund a paid order (or one line of it): money back through the gateway, access taken away."""
    order = load_order(session, tenant.id, number)
    if order.status not in ("paid", "partially_refunded"):
        raise Conflict(f"Order {number} is {order.status}; it cannot be refunded.", code="not_refundable")
    lines = [
        line
        for line in session.scalars(
            select(OrderLine).where(OrderLine.order_pk == order.pk, OrderLine.refunded.is_(False))
        )
        if product_code is None or line.product_code == product_code
    ]
    if not lines:
        raise ValidationFailed(
            f"Order {number} has no refundable line '{product_code}'.",
            code="unknown_order_line",
            errors=[{"field": "product_code", "message": "not on this order, or already refunded"}],
        )
    remaining = order.paid_amount - order.refunded_amount
    still_open = session.scalar(
        select(func.count())
        .select_from(OrderLine)
        .where(OrderLine.order_pk == order.pk, OrderLine.refunded.is_(False))
    )
    whole = product_code is None or still_open == len(lines)
    amount = remaining if whole else min(remaining, _line_share(order, lines))
    if amount > 0 and order.gateway_charge_id:
        refund_charge(session, tenant, order.gateway_charge_id, amount)
    for line in lines:
        line.refunded = True
    order.refunded_amount += amount
    order.status = "refunded" if whole else "partially_refunded"
    now = tenant_now(tenant)
    txn = (
        ledger.post(session, order, "refunds", "cash", amount, f"refund of {number}", now)
        if amount
        else "none"
    )
    notify_lms(session, tenant, "order.refunded", order, txn)
    return order_json(session, order)


def _line_share(order: Order, lines: list[OrderLine]) -> int:
    """What the lines cost after their share of the order's discount."""
    gross = sum(line.line_total for line in lines)
    return gross - (order.discount * gross // order.subtotal if order.subtotal else 0)


def cancel_order(session: Session, tenant: Tenant, number: str) -> dict[str, Any]:
    """Cancel an invoiced purchase order that nothing was paid on (the invoice is written off)."""
    order = load_order(session, tenant.id, number)
    if order.status != "invoiced" or order.paid_amount:
        raise Conflict(
            f"Order {number} is {order.status}; only unpaid invoices are cancelled (refund paid orders).",
            code="not_cancellable",
        )
    order.status = "cancelled"
    now = tenant_now(tenant)
    txn = (
        ledger.post(session, order, "refunds", "receivables", order.total, f"cancel {number}", now)
        if order.total
        else "none"
    )
    notify_lms(session, tenant, "order.cancelled", order, txn)
    return order_json(session, order)


def assign_seat(session: Session, tenant: Tenant, number: str, member_id: str) -> dict[str, Any]:
    """Give a free seat of a bulk order to a member of the buying organisation."""
    order = load_order(session, tenant.id, number)
    if order.organisation_id is None:
        raise Conflict(f"Order {number} is not a bulk order.", code="not_a_bulk_order")
    if order.status in ("refunded", "cancelled"):
        raise Conflict(f"Order {number} is {order.status}.", code="order_closed")
    member = find_member(session, tenant.id, member_id)
    organisation = get_organisation(session, tenant.id, order.organisation_id)
    if member.organisation_pk != organisation.pk:
        raise ValidationFailed(
            f"{member_id} is not a member of {organisation.name}.",
            code="not_in_organisation",
            errors=[{"field": "member_id", "message": f"not in {organisation.org_id}"}],
        )
    seats = list(session.scalars(select(Seat).where(Seat.order_pk == order.pk).order_by(Seat.pk)))
    if any(seat.member_id == member_id for seat in seats):
        raise Conflict(f"{member_id} already holds a seat of order {number}.", code="seat_already_assigned")
    free = next((seat for seat in seats if seat.member_id is None), None)
    if free is None:
        raise Conflict(f"Every seat of order {number} is taken.", code="no_free_seat")
    free.member_id, free.assigned_at = member_id, tenant_now(tenant)
    notify_lms(session, tenant, "seat.assigned", order, f"seat-{free.pk}", members=[member_id])
    return order_json(session, order)
