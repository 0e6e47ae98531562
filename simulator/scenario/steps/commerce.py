"""Shopping steps over the AMS commerce API: carts, checkout, purchase orders, refunds, bulk and phone
orders, seats. Card numbers are tokenised at the gateway stub first, as a storefront does."""

from __future__ import annotations

from typing import Any

import httpx

from simulator.core.http_failures import http_failure
from simulator.scenario.client import ApiError
from simulator.scenario.model import (
    APPROVED_CARD,
    CONNECTION_LOST,
    AddToCart,
    ApplyCoupon,
    AssignSeat,
    BulkOrder,
    CancelOrder,
    Checkout,
    Payment,
    PhoneOrder,
    RecordPayment,
    Refund,
)
from simulator.scenario.steps import Person, RunContext, StepFailed, step


def payment_body(ctx: RunContext, payment: Payment) -> dict[str, Any]:
    """The checkout's ``payment``: a purchase order, or a fresh card token."""
    if payment.po_number:
        return {"po_number": payment.po_number}
    body: dict[str, Any] = {"card_token": ctx.tenant.card_token(payment.card or APPROVED_CARD)}
    if payment.challenge_response:
        body["challenge_response"] = payment.challenge_response
    return body


def order_summary(order: dict[str, Any]) -> dict[str, Any]:
    """What a scenario may rely on about an order (numbers follow the tenant's own sequence)."""
    summary = {
        "number": order["number"],
        "status": order["status"],
        "channel": order["channel"],
        "price_class": order.get("price_class"),
        "total": order["total"],
        "amount_due": order.get("amount_due"),
        "products": [line["product_code"] for line in order.get("lines", [])],
    }
    if order.get("seats"):
        summary["seats"] = {"total": order["seats"]["total"], "assigned": len(order["seats"]["assigned"])}
    return summary


@step("add_to_cart")
def add_to_cart(ctx: RunContext, params: AddToCart) -> dict[str, Any]:
    def add(person: Person) -> dict[str, Any]:
        cart = ctx.tenant.add_to_cart(person.member_id, params.product, params.quantity)
        return {"items": len(cart.get("lines", [])), "total": cart.get("total")}

    return ctx.per_person(params.actor, add)


@step("apply_coupon")
def apply_coupon(ctx: RunContext, params: ApplyCoupon) -> dict[str, Any]:
    def apply(person: Person) -> dict[str, Any]:
        cart = ctx.tenant.apply_coupon(person.member_id, params.code)
        return {"discount": cart.get("discount"), "total": cart.get("total")}

    return ctx.per_person(params.actor, apply)


@step("checkout")
def checkout(ctx: RunContext, params: Checkout) -> dict[str, Any]:
    person = ctx.one(params.actor)
    payment = payment_body(ctx, params.payment)
    try:
        order = ctx.tenant.checkout(person.member_id, payment)
    except ApiError as exc:
        if params.error and exc.code == params.error:
            return {"refused": exc.code, "status": exc.status}
        raise
    except httpx.TransportError as exc:  # the AMS went away mid-request (a kill step, a reset fault)
        if params.error == CONNECTION_LOST:
            return {"refused": CONNECTION_LOST}
        raise StepFailed(f"the checkout's connection to the AMS broke: {http_failure(exc)}") from exc
    if params.error:
        raise StepFailed(f"the checkout should be refused with {params.error}, but it placed an order")
    ctx.remember_order(params.order, order["number"])
    return order_summary(order)


@step("record_payment")
def record_payment(ctx: RunContext, params: RecordPayment) -> dict[str, Any]:
    number = ctx.order_number(params.order)
    amount = params.amount if params.amount is not None else ctx.tenant.order(number)["amount_due"]
    if not amount:
        raise StepFailed(f"order '{params.order}' has nothing left to pay")
    return order_summary(ctx.tenant.record_payment(number, amount, params.reference))


@step("refund")
def refund(ctx: RunContext, params: Refund) -> dict[str, Any]:
    return order_summary(ctx.tenant.refund(ctx.order_number(params.order), params.product))


@step("cancel_order")
def cancel_order(ctx: RunContext, params: CancelOrder) -> dict[str, Any]:
    return order_summary(ctx.tenant.cancel_order(ctx.order_number(params.order)))


@step("bulk_order")
def bulk_order(ctx: RunContext, params: BulkOrder) -> dict[str, Any]:
    order = ctx.tenant.bulk_order(
        params.organisation, params.product, params.seats, payment_body(ctx, params.payment)
    )
    ctx.remember_order(params.order, order["number"])
    return order_summary(order)


@step("phone_order")
def phone_order(ctx: RunContext, params: PhoneOrder) -> dict[str, Any]:
    person, staff = ctx.one(params.actor), ctx.one(params.staff)
    items = [{"product_code": item.product, "quantity": item.quantity} for item in params.items]
    try:
        order = ctx.tenant.phone_order(
            person.member_id, staff.member_id, items, payment_body(ctx, params.payment), params.coupon
        )
    except ApiError as exc:
        if params.error and exc.code == params.error:
            return {"refused": exc.code, "status": exc.status}
        raise
    if params.error:
        raise StepFailed(f"the phone order should be refused with {params.error}, but it placed an order")
    ctx.remember_order(params.order, order["number"])
    return order_summary(order) | {"entered_by_staff": order.get("entered_by") == staff.member_id}


@step("assign_seat")
def assign_seat(ctx: RunContext, params: AssignSeat) -> dict[str, Any]:
    number = ctx.order_number(params.order)
    order: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for person in ctx.each(params.actor):
        try:
            order = ctx.tenant.assign_seat(number, person.member_id)
        except ApiError as exc:
            if params.error and exc.code == params.error:
                refused[person.label] = exc.code
                continue
            raise
        if params.error:
            raise StepFailed(
                f"assigning a seat to {person.label} should be refused with {params.error}, but it was given"
            )
    if params.error:
        return {"refused": refused, "seats": order_summary(ctx.tenant.order(number)).get("seats")}
    return order_summary(order)
