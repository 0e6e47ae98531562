"""The money path on both databases: checkout, a declined checkout rolled back, refund, ledger, and
order numbers that concurrent checkouts never share."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from simulator.ams.commerce.models import Order
from simulator.ams.commerce.orders import next_order_number
from simulator.core.clock import tenant_now
from simulator.core.db import Database
from simulator.core.models import Tenant
from tests.commerce.conftest import TEST_CARDS, Shop


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """This module runs on SQLite and on PostgreSQL."""
    return any_db_url


def test_checkout_decline_and_refund_keep_the_books_straight(shop: Shop) -> None:
    member = shop.member_id("student@demo.test")
    shop.add(member, "BUNDLE-CPE")
    declined = shop.checkout(member, {"card_token": shop.token(TEST_CARDS["card_declined"])}, key="k-1")
    assert declined.status_code == 402 and shop.orders() == []
    assert (
        shop.checkout(member, {"card_token": shop.token(TEST_CARDS["card_declined"])}, key="k-1").status_code
        == 422
    )
    order = shop.checkout(member, {"card_token": shop.token()}, key="k-2").get_json()
    assert order["status"] == "paid" and order["price_class"] == "student"
    shop.post(f"/api/orders/{order['number']}/refunds", {})
    ledger = shop.get("/api/ledger").get_json()
    assert ledger["balanced"] and ledger["net_sales"] == 0 and ledger["accounts"]["refunds"] == order["total"]
    assert shop.get(f"/api/members/{member}/entitlements").get_json()["course_codes"] == []
    assert shop.outbox_topics() == ["order.paid", "order.refunded"]


def test_a_checkout_during_another_never_takes_its_order_number(shop: Shop, db: Database) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "ETH-101")
    token = shop.token()
    answers: list[Any] = []
    with db.session() as session:
        tenant = session.get(Tenant, shop.tenant)
        assert tenant is not None
        now = tenant_now(tenant)
        held = next_order_number(session, shop.tenant, now)  # this transaction is placing an order…
        session.add(unpaid_order(shop.tenant, held, now))
        session.flush()
        other = threading.Thread(target=lambda: answers.append(shop.checkout(member, {"card_token": token})))
        other.start()
        other.join(1.0)  # …while another checkout gets as far as it can before this one commits
    other.join(60)

    assert held.endswith("-00000001")
    assert answers[0].status_code == 201, answers[0].get_json()
    assert answers[0].get_json()["number"] == f"O-{now:%y%m%d}-00000002"


def unpaid_order(tenant_id: str, number: str, now: dt.datetime) -> Order:
    return Order(
        tenant_id=tenant_id,
        number=number,
        channel="api",
        status="invoiced",
        payment_method="po",
        price_class="member",
        currency="USD",
        subtotal=0,
        discount=0,
        total=0,
        created_at=now,
    )
