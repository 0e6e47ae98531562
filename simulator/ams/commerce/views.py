"""Commerce API of the AMS (``/t/{tenant}/api/…``; tenant or admin key): catalog, coupons, carts,
checkout, phone and bulk orders, purchase orders, refunds, seats and the ledger.

Views only translate HTTP. Mutating order calls honour ``Idempotency-Key`` (same rules as the gateway);
a card decline answers 402 and leaves no order, payment or enrollment behind.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_openapi3 import Tag
from sqlalchemy.orm import Session

from simulator.ams.commerce import cart as carts
from simulator.ams.commerce import catalog, catalog_owner, ledger, orders
from simulator.ams.commerce.responses import (
    Balances,
    Cart,
    CatalogImport,
    Coupon,
    CouponList,
    Order,
    OrderDetail,
    OrderList,
    Product,
    ProductList,
)
from simulator.ams.commerce.schemas import (
    BulkOrderIn,
    CartItemIn,
    CartItemPath,
    CartItemUpdate,
    CartPath,
    CheckoutIn,
    CouponApply,
    CouponIn,
    LedgerQuery,
    OrderPath,
    OrderQuery,
    OrganisationPath,
    PhoneOrderIn,
    PoPaymentIn,
    ProductIn,
    ProductPath,
    ProductQuery,
    ProductUpdate,
    RefundIn,
    SeatAssignIn,
    dump,
)
from simulator.ams.gateway.views import idempotent_call
from simulator.ams.service import find_member
from simulator.core.errors import NotFound
from simulator.core.models import Tenant
from simulator.core.web import Problem, TenantPath, created, current_tenant, database, tenant_blueprint

commerce_tag = Tag(name="commerce", description="Catalog, carts, checkout, orders and the ledger")
commerce_api = tenant_blueprint("commerce", __name__, [commerce_tag], prefix="/api", secured=True)
STAFF_HEADER = "X-Staff-Member"


@commerce_api.get("/products", responses={200: ProductList})
def list_products(path: TenantPath, query: ProductQuery) -> dict[str, Any]:
    """The catalog (prices in minor units per price class)."""
    with database().read() as session:
        return {"items": catalog.list_products(session, current_tenant().id, query.kind)}


@commerce_api.post("/products", responses={201: Product, 409: Problem})
def create_product(path: TenantPath, body: ProductIn) -> tuple[Any, int, dict[str, str]]:
    """Add a product; courses and webinars name the LMS course code they grant (and are published to
    the LMS with `catalog_owner: ams`; refused with `catalog_owner: lms`)."""
    catalog_owner.refuse_if_lms_owned(current_tenant(), body.kind)
    with database().session() as session:
        product = catalog.create_product(session, current_tenant(), body)
        catalog_owner.publish(session, current_tenant(), product)
    return created(product, f"/t/{current_tenant().id}/api/products/{product['code']}")


@commerce_api.get("/products/<code>", responses={200: Product})
def get_product(path: ProductPath) -> dict[str, Any]:
    """One product."""
    with database().read() as session:
        product = catalog.find_product(session, current_tenant().id, path.code)
        if product is None:
            raise NotFound(f"There is no product '{path.code}'.", code="product_not_found")
        return catalog.product_json(product)


@commerce_api.patch("/products/<code>", responses={200: Product})
def update_product(path: ProductPath, body: ProductUpdate) -> dict[str, Any]:
    """Change title, prices, bundle contents or whether it is sold (courses are published again)."""
    with database().session() as session:
        product = catalog.update_product(session, current_tenant(), path.code, body)
        catalog_owner.publish(session, current_tenant(), product)
        return product


@commerce_api.post("/catalog/import", responses={200: CatalogImport, 409: Problem, 502: Problem})
def import_catalog(path: TenantPath) -> dict[str, Any]:
    """With `catalog_owner: lms`: import the LMS courses now (new ones priced from contact hours)."""
    return catalog_owner.import_catalog(database(), current_tenant().id)


@commerce_api.get("/coupons", responses={200: CouponList})
def list_coupons(path: TenantPath) -> dict[str, Any]:
    """Coupons with their use counts."""
    with database().read() as session:
        return {"items": catalog.list_coupons(session, current_tenant().id)}


@commerce_api.post("/coupons", responses={201: Coupon, 409: Problem})
def create_coupon(path: TenantPath, body: CouponIn) -> tuple[Any, int, dict[str, str]]:
    """Add a coupon: percent or amount off, optional expiry (business clock) and usage limit."""
    with database().session() as session:
        return created(catalog.create_coupon(session, current_tenant(), body))


@commerce_api.get("/members/<member_id>/cart", responses={200: Cart})
def get_cart(path: CartPath) -> dict[str, Any]:
    """The member's cart, priced for them now: lines, bundle savings, coupon, totals."""
    with database().read() as session:
        return carts.view_cart(session, current_tenant(), path.member_id)


@commerce_api.post("/members/<member_id>/cart/items", responses={200: Cart})
def add_cart_item(path: CartPath, body: CartItemIn) -> dict[str, Any]:
    """Add a product (quantities add up)."""
    with database().session() as session:
        carts.add_to_cart(session, current_tenant(), path.member_id, body.product_code, body.quantity)
        return carts.view_cart(session, current_tenant(), path.member_id)


@commerce_api.patch("/members/<member_id>/cart/items/<product_code>", responses={200: Cart})
def update_cart_item(path: CartItemPath, body: CartItemUpdate) -> dict[str, Any]:
    """Set a quantity; 0 removes the line."""
    with database().session() as session:
        carts.set_quantity(session, current_tenant(), path.member_id, path.product_code, body.quantity)
        return carts.view_cart(session, current_tenant(), path.member_id)


@commerce_api.put("/members/<member_id>/cart/coupon", responses={200: Cart})
def apply_coupon(path: CartPath, body: CouponApply) -> dict[str, Any]:
    """Apply a coupon to the cart (`null` removes it)."""
    with database().session() as session:
        carts.apply_coupon(session, current_tenant(), path.member_id, body.code)
        return carts.view_cart(session, current_tenant(), path.member_id)


@commerce_api.post("/members/<member_id>/cart/checkout", responses={201: Order, 402: Problem})
def checkout(path: CartPath, body: CheckoutIn) -> Response:
    """Buy the cart: by card token (charged now) or purchase order (invoiced). Honours Idempotency-Key."""

    def work(session: Session, tenant: Tenant) -> tuple[int, Any]:
        return 201, orders.checkout_cart(
            session, tenant, path.member_id, body.payment, body.expected_total, channel="api"
        )

    return idempotent_call(f"checkout:{path.member_id}", dump(body), work, keep_declines=False)


@commerce_api.post("/members/<member_id>/orders", responses={201: Order, 402: Problem, 403: Problem})
def phone_order(path: CartPath, body: PhoneOrderIn) -> Response:
    """A phone order entered by staff for the member: send `X-Staff-Member: <staff member id>`."""
    staff_id = request.headers.get(STAFF_HEADER)

    def work(session: Session, tenant: Tenant) -> tuple[int, Any]:
        entered_by = orders.require_staff(session, tenant.id, staff_id)
        purchase = orders.Purchase(
            items=[carts.Item(item.product_code, item.quantity) for item in body.items],
            payment=body.payment,
            member=find_member(session, tenant.id, path.member_id),
            coupon=body.coupon,
            expected_total=body.expected_total,
            channel="phone",
            entered_by=entered_by,
        )
        return 201, orders.place_order(session, tenant, purchase)

    return idempotent_call(f"phone:{path.member_id}", dump(body), work, keep_declines=False)


@commerce_api.post("/organisations/<org_id>/orders", responses={201: Order, 402: Problem})
def bulk_order(path: OrganisationPath, body: BulkOrderIn) -> Response:
    """An organisation buys N seats of a course (default price); seats are then assigned to its members."""

    def work(session: Session, tenant: Tenant) -> tuple[int, Any]:
        purchase = orders.Purchase(
            items=[carts.Item(body.product_code, body.seats)],
            payment=body.payment,
            organisation=orders.get_organisation(session, tenant.id, path.org_id),
            expected_total=body.expected_total,
            channel="bulk",
        )
        return 201, orders.place_order(session, tenant, purchase)

    return idempotent_call(f"bulk:{path.org_id}", dump(body), work, keep_declines=False)


@commerce_api.get("/orders", responses={200: OrderList})
def list_orders(path: TenantPath, query: OrderQuery) -> dict[str, Any]:
    """Orders, oldest first (`newest_first=true`: newest first); optionally one member's, one status."""
    with database().read() as session:
        items = orders.list_orders(
            session, current_tenant().id, query.member_id, query.limit, query.status, query.newest_first
        )
        return {"items": items}


@commerce_api.get("/orders/<number>", responses={200: OrderDetail})
def get_order(path: OrderPath) -> dict[str, Any]:
    """One order with its lines, seats, ledger entries and balance."""
    tenant_id = current_tenant().id
    with database().read() as session:
        order = orders.order_json(session, orders.load_order(session, tenant_id, path.number))
        order["ledger"] = ledger.entries(session, tenant_id, path.number)
        order["balance"] = ledger.balances(session, tenant_id, order_number=path.number)
        return order


@commerce_api.post("/orders/<number>/refunds", responses={200: Order, 409: Problem})
def refund_order(path: OrderPath, body: RefundIn) -> Response:
    """Refund the order (or one line): money back through the gateway, LMS access removed."""
    return idempotent_call(
        f"refund:{path.number}",
        dump(body),
        lambda session, tenant: (200, orders.refund_order(session, tenant, path.number, body.product_code)),
    )


@commerce_api.post("/orders/<number>/payments", responses={200: Order, 409: Problem})
def record_payment(path: OrderPath, body: PoPaymentIn) -> Response:
    """Record a payment received against a purchase order."""
    return idempotent_call(
        f"po-payment:{path.number}",
        dump(body),
        lambda session, tenant: (200, orders.record_po_payment(session, tenant, path.number, body.amount)),
    )


@commerce_api.post("/orders/<number>/cancel", responses={200: Order, 409: Problem})
def cancel_order(path: OrderPath) -> dict[str, Any]:
    """Cancel an unpaid purchase order (access granted before payment is removed)."""
    with database().session() as session:
        return orders.cancel_order(session, session.get(Tenant, current_tenant().id), path.number)


@commerce_api.post("/orders/<number>/seats", responses={200: Order, 409: Problem})
def assign_seat(path: OrderPath, body: SeatAssignIn) -> dict[str, Any]:
    """Assign a free seat of a bulk order to a member of the buying organisation."""
    with database().session() as session:
        return orders.assign_seat(
            session, session.get(Tenant, current_tenant().id), path.number, body.member_id
        )


@commerce_api.get("/ledger", responses={200: Balances})
def ledger_balances(path: TenantPath, query: LedgerQuery) -> dict[str, Any]:
    """Account balances (debit − credit) for the tenant, one member or one order; `amount_due` is owed."""
    with database().read() as session:
        return ledger.balances(session, current_tenant().id, query.member_id, query.order)
