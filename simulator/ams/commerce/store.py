"""The storefront page for the member signed in to the AMS portal: ``/t/{tenant}/store``.

HTTP glue only: the catalog with the member's own prices, their cart (stored, so it survives logout),
and a card checkout. The card number is posted once, tokenised by the gateway stub and forgotten; the
order goes through the same services as the API (one transaction, nothing kept on a decline).

Every form carries the session's CSRF token (:mod:`simulator.core.csrf`); a POST without it changes
nothing. A paid checkout answers ``303 See Other`` to the order's page (``/store/orders/{number}``), so
reloading that page never posts again; the checkout form also carries a one-time ``checkout_key``, used
as the checkout's Idempotency-Key (:mod:`simulator.ams.gateway.idempotency`), so the same form posted
twice (the back button, a double click) leads to the one order it placed.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, g, redirect, request

from simulator.ams.commerce import cart as carts
from simulator.ams.commerce import catalog, orders
from simulator.ams.commerce.schemas import PaymentIn
from simulator.ams.gateway.idempotency import find_replay, remember, request_digest, tenant_secret
from simulator.ams.gateway.service import CardIn, tokenise
from simulator.ams.idp import browser
from simulator.ams.service import find_member
from simulator.core import csrf
from simulator.core.errors import NotFound, SandboxError
from simulator.core.models import Tenant
from simulator.core.tenancy import tenant_settings
from simulator.core.web import database, resolve_tenant

store_pages = Blueprint("ams_store", __name__, url_prefix="/t/<tenant>")
CSRF_SCOPE = "ams_store_csrf"
"""The session entry of the store forms' CSRF tokens."""


@store_pages.before_request
def _resolve_tenant() -> None:
    g.tenant = resolve_tenant((request.view_args or {}).get("tenant", ""))
    g.tenant_settings = tenant_settings(g.tenant)


@store_pages.errorhandler(SandboxError)
def _error_page(error: SandboxError) -> Response:
    link = f"/t/{browser.tenant_id()}/store"
    return browser.message_page(
        "We could not do that", error.message, error.http_status, link, "Back to the store"
    )


def _signed_in_member() -> str | None:
    login = browser.current_login()
    return login["member_id"] if login else None


def _render(
    member_id: str, notice: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    with database().read() as session:
        tenant = session.get(Tenant, browser.tenant_id())
        member = find_member(session, tenant.id, member_id)
        price_class = catalog.price_class_of(member, tenant_settings(tenant))
        products = [
            {
                **product,
                "price": catalog.price_for(
                    catalog.get_product(session, tenant.id, product["code"]), price_class
                ),
            }
            for product in catalog.list_products(session, tenant.id)
            if product["active"]
        ]
        cart = carts.view_cart(session, tenant, member_id)
    return browser.page(
        "store_index.html",
        status,
        tenant_id=browser.tenant_id(),
        member=member,
        products=products,
        cart=cart,
        notice=notice,
        error=error,
        csrf_token=csrf.csrf_token(CSRF_SCOPE, browser.tenant_id()),
        checkout_key=secrets.token_urlsafe(16),
    )


def _forged() -> bool:
    """Is this POST without the session's CSRF token (so it must change nothing)?"""
    return not csrf.csrf_valid(CSRF_SCOPE, browser.tenant_id(), request.form.get(csrf.FIELD))


def _order_page(number: str) -> Response:
    return redirect(f"/t/{browser.tenant_id()}/store/orders/{number}", 303)


@store_pages.get("/store")
def storefront(tenant: str) -> Response:
    member_id = _signed_in_member()
    if member_id is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/store")
    return _render(member_id)


@store_pages.post("/store/cart")
def add_to_cart(tenant: str) -> Response:
    member_id = _signed_in_member()
    if member_id is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/store")
    if _forged():
        return _render(member_id, error=csrf.REFUSED_MESSAGE, status=400)
    try:
        quantity = int(request.form.get("quantity", "1"))
    except ValueError:
        quantity = 0
    if quantity < 1:
        return _render(member_id, error="Quantities must be at least 1.", status=422)
    with database().session() as session:
        tenant_row = session.get(Tenant, browser.tenant_id())
        carts.add_to_cart(session, tenant_row, member_id, request.form.get("product_code", ""), quantity)
    return redirect(f"/t/{browser.tenant_id()}/store", 303)


@store_pages.post("/store/checkout")
def checkout(tenant: str) -> Response:
    member_id = _signed_in_member()
    if member_id is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/store")
    if _forged():
        return _render(member_id, error=csrf.REFUSED_MESSAGE, status=400)
    form = request.form
    try:
        card = CardIn(
            number=form.get("card_number", ""),
            exp_month=int(form.get("exp_month") or 0),
            exp_year=int(form.get("exp_year") or 0),
            cvc=form.get("cvc", ""),
        )
    except ValueError:
        return _render(member_id, error="Please check the card details.", status=422)
    expected = int(form["expected_total"]) if form.get("expected_total", "").isdigit() else None
    checkout_key = form.get("checkout_key") or None
    scope = f"store:{member_id}"
    try:
        with database().session() as session:
            tenant_row = session.get(Tenant, browser.tenant_id())
            digest = request_digest(tenant_secret(session, tenant_row.id), "POST", request.path, {})
            if checkout_key is not None:
                replay = find_replay(session, tenant_row, scope, checkout_key, digest)
                if replay is not None:
                    return _order_page(replay[1]["number"])
            token = tokenise(session, tenant_row, card)["id"]
            payment = PaymentIn(card_token=token, challenge_response=form.get("challenge_response") or None)
            order = orders.checkout_cart(session, tenant_row, member_id, payment, expected, channel="web")
            if checkout_key is not None:
                remember(session, tenant_row, scope, checkout_key, digest, 201, {"number": order["number"]})
    except SandboxError as error:
        return _render(member_id, error=error.message, status=error.http_status)
    return _order_page(order["number"])


@store_pages.get("/store/orders/<number>")
def order_page(tenant: str, number: str) -> Response:
    """One of the signed-in member's orders: what was bought, the total and the status."""
    member_id = _signed_in_member()
    if member_id is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/store/orders/{number}")
    with database().read() as session:
        order = orders.load_order(session, browser.tenant_id(), number)
        if order.member_id != member_id:
            raise NotFound(f"There is no order '{number}'.", code="order_not_found")
        document = orders.order_json(session, order)
    return browser.page("store_order.html", tenant_id=browser.tenant_id(), order=document)
