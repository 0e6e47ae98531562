"""The money path on both databases: checkout, a declined checkout rolled back, refund, ledger."""

from __future__ import annotations

import pytest

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
