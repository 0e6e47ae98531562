"""Console pages: a tenant's AMS orders (newest first, by status and member) and one order with its
lines, seats, card payment and refunds (the gateway charge), and its ledger lines with the balance check.

The data is what the AMS APIs answer, through the same service functions: ``GET /t/{t}/api/orders``
(:func:`simulator.ams.commerce.orders.list_orders`), ``GET /t/{t}/api/orders/{number}`` (the order, its
``ledger`` and ``balance``) and ``GET /t/{t}/gateway/v1/charges/{id}``. Money is integer minor units,
shown in the order's currency (the tenant's ``currency`` setting when the order was placed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

from flask import render_template, request

from simulator.ams.commerce import ledger
from simulator.ams.commerce.orders import list_orders, load_order, order_json
from simulator.ams.commerce.schemas import OrderQuery, OrderStatus
from simulator.ams.gateway.service import get_charge
from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import validate_form
from simulator.core.tenancy import tenant_settings
from simulator.core.web import database

ORDERS_SHOWN = 200


def money(amount: int | None, currency: str) -> str:
    """Minor units as a reader writes them: ``money(123456, "USD")`` → ``'USD 1,234.56'``."""
    if amount is None:
        return ""
    sign = "−" if amount < 0 else ""
    return f"{currency} {sign}{abs(amount) // 100:,}.{abs(amount) % 100:02d}"


def moment(value: str | None) -> str:
    """An API timestamp (ISO 8601) to the second, in UTC: ``'2026-03-01 14:05:09 UTC'``."""
    if not value:
        return "—"
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@ui.get("/tenants/<tenant>/orders", endpoint="orders")
@signed_in
def orders_page(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    form = {name: request.args.get(name, "").strip() for name in ("status", "member_id")}
    query, errors = validate_form(OrderQuery, {**form, "newest_first": True, "limit": ORDERS_SHOWN})
    orders: list[dict[str, Any]] = []
    if query is not None:
        with database().read() as session:
            orders = list_orders(
                session, tenant, query.member_id, query.limit, query.status, query.newest_first
            )
    return render_template(
        "ui/orders.html",
        title=f"Orders of {tenant}",
        tenant=tenant_row,
        form=form,
        errors=errors,
        orders=orders,
        shown=ORDERS_SHOWN,
        statuses=get_args(OrderStatus),
        currency=tenant_settings(tenant_row).currency,
        money=money,
        moment=moment,
    ), (422 if errors else 200)


@ui.get("/tenants/<tenant>/orders/<number>", endpoint="order")
@signed_in
def order_page(tenant: str, number: str) -> Any:
    tenant_row = page_tenant(tenant)
    with database().read() as session:
        order = order_json(session, load_order(session, tenant, number))
        entries = ledger.entries(session, tenant, number)
        balance = ledger.balances(session, tenant, order_number=number)
        charge = (
            get_charge(session, tenant, order["gateway_charge_id"]) if order["gateway_charge_id"] else None
        )
    po_payments = [
        entry
        for entry in entries
        if order["payment_method"] == "po" and entry["account"] == "cash" and entry["debit"]
    ]
    return render_template(
        "ui/orders_detail.html",
        title=f"Order {number}",
        tenant=tenant_row,
        order=order,
        entries=entries,
        balance=balance,
        charge=charge,
        po_payments=po_payments,
        debits=sum(entry["debit"] for entry in entries),
        credits=sum(entry["credit"] for entry in entries),
        money=money,
        moment=moment,
    )
