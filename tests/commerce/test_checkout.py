"""Cart and checkout: orders, the ledger, and bad input that leaves nothing half-made."""

from __future__ import annotations

from typing import Any

from tests.commerce.conftest import TEST_CARDS, Shop


def snapshot(shop: Shop, member: str) -> dict[str, Any]:
    """What a failed checkout must not change."""
    return {
        "orders": shop.orders(),
        "ledger": shop.get("/api/ledger").get_json(),
        "cart": shop.get(f"/api/members/{member}/cart").get_json()["lines"],
        "entitlements": shop.get(f"/api/members/{member}/entitlements").get_json()["course_codes"],
        "outbox": shop.outbox_topics(),
        "coupons": shop.get("/api/coupons").get_json(),
    }


def test_checkout_charges_the_card_records_a_balanced_ledger_and_empties_the_cart(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "ETH-101", 1)
    cart = shop.add(member, "BOOK-ETHICS", 2).get_json()
    response = shop.checkout(member, {"card_token": shop.token()}, expected_total=cart["total"])
    order = response.get_json()
    assert response.status_code == 201
    assert (order["status"], order["total"], order["paid_amount"]) == ("paid", cart["total"], cart["total"])
    assert [(line["product_code"], line["quantity"]) for line in order["lines"]] == [
        ("ETH-101", 1),
        ("BOOK-ETHICS", 2),
    ]
    assert shop.get(f"/api/members/{member}/cart").get_json()["lines"] == []
    charge = shop.get(f"/gateway/v1/charges/{order['gateway_charge_id']}").get_json()
    assert (charge["status"], charge["amount"]) == ("succeeded", cart["total"])
    detail = shop.get(f"/api/orders/{order['number']}").get_json()
    assert detail["balance"]["accounts"] == {
        "cash": cart["total"],
        "receivables": 0,
        "revenue": -cart["total"],
        "refunds": 0,
    }
    assert detail["balance"]["balanced"] is True
    assert (
        shop.get("/api/ledger", query_string={"member_id": member}).get_json()["net_sales"] == cart["total"]
    )
    assert shop.get(f"/api/members/{member}/entitlements").get_json()["course_codes"] == ["ETH-101"]
    assert shop.outbox_topics() == ["order.paid"]


def test_every_declining_card_leaves_no_order_payment_entitlement_or_message(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "CLE-204")
    shop.ams.put(shop.url(f"/api/members/{member}/cart/coupon"), json={"code": "SPRING25"}, headers=shop.auth)
    before = snapshot(shop, member)
    for outcome in (
        "card_declined",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "processing_error",
    ):
        response = shop.checkout(member, {"card_token": shop.token(TEST_CARDS[outcome])})
        assert response.status_code == 402 and response.get_json()["code"] == outcome
        assert "charge" not in response.get_json()
    assert snapshot(shop, member) == before


def test_the_challenge_card_checks_out_on_the_second_call(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "CLE-204")
    token = shop.token(TEST_CARDS["challenge"])
    first = shop.checkout(member, {"card_token": token})
    assert first.status_code == 402 and first.get_json()["code"] == "challenge_required"
    assert shop.orders() == []
    second = shop.checkout(member, {"card_token": token, "challenge_response": "pass"})
    assert second.status_code == 201 and second.get_json()["status"] == "paid"


def test_bad_input_is_refused_with_a_clear_problem_and_changes_nothing(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    assert shop.add(member, "NOPE-1").get_json()["code"] == "unknown_product"
    negative = shop.add(member, "ETH-101", -1)
    assert negative.status_code == 422 and negative.get_json()["errors"][0]["field"] == "quantity"
    cart = shop.add(member, "ETH-101").get_json()
    before = snapshot(shop, member)
    mismatch = shop.checkout(member, {"card_token": shop.token()}, expected_total=cart["total"] - 1)
    assert mismatch.status_code == 422 and mismatch.get_json()["code"] == "price_mismatch"
    unknown_token = shop.checkout(member, {"card_token": "tok_nope"})
    assert unknown_token.get_json()["code"] == "unknown_card_token"
    both = shop.checkout(member, {"card_token": shop.token(), "po_number": "PO-1"})
    assert both.status_code == 422
    assert snapshot(shop, member) == before
    assert shop.checkout("M999999", {"card_token": shop.token()}).status_code == 404


def test_a_retried_checkout_with_the_same_key_returns_the_same_order_once(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "ETH-101")
    token = shop.token()
    first = shop.checkout(member, {"card_token": token}, key="checkout-1")
    again = shop.checkout(member, {"card_token": token}, key="checkout-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json()["number"] == first.get_json()["number"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(shop.orders()) == 1
    shop.add(member, "CLE-204")
    reused = shop.checkout(member, {"card_token": shop.token()}, key="checkout-1")
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key_reused"
    assert len(shop.orders()) == 1


def test_quantities_update_and_zero_removes_a_line(shop: Shop) -> None:
    member = shop.member_id("student@demo.test")
    shop.add(member, "BOOK-ETHICS", 1)
    shop.add(member, "BOOK-ETHICS", 2)
    cart = shop.get(f"/api/members/{member}/cart").get_json()
    assert cart["lines"][0]["quantity"] == 3 and cart["total"] == 3 * cart["lines"][0]["unit_price"]
    path = shop.url(f"/api/members/{member}/cart/items/BOOK-ETHICS")
    assert (
        shop.ams.patch(path, json={"quantity": 1}, headers=shop.auth).get_json()["lines"][0]["quantity"] == 1
    )
    assert shop.ams.patch(path, json={"quantity": 0}, headers=shop.auth).get_json()["lines"] == []


def test_amounts_larger_than_the_database_holds_are_refused_and_change_nothing(shop: Shop) -> None:
    """Minor units are 32-bit columns on PostgreSQL: a larger price or total is a 422, not a 500."""
    member = shop.member_id("active.member@demo.test")
    product = {"code": "GOLD-1", "kind": "book", "title": "Gold", "default_price": 2**31}
    too_big = shop.post("/api/products", json=product)
    assert too_big.status_code == 422 and too_big.get_json()["errors"][0]["field"] == "default_price"
    member_price = shop.post(
        "/api/products", json={**product, "default_price": 1, "prices": {"member": 2**63}}
    )
    assert member_price.status_code == 422
    missing = shop.get("/api/products/GOLD-1")
    assert missing.status_code == 404, missing.get_json()
    largest = shop.post("/api/products", json={**product, "default_price": 2**31 - 1})
    assert largest.status_code == 201
    shop.add(member, "GOLD-1", 1)
    before = snapshot(shop, member)
    more = shop.add(member, "GOLD-1", 2)
    assert more.status_code == 422 and more.get_json()["code"] == "amount_too_large"
    staff = {"X-Staff-Member": shop.member_id("staff@demo.test")}
    order = {"items": [{"product_code": "GOLD-1", "quantity": 2}], "payment": {"card_token": shop.token()}}
    phone = shop.post(f"/api/members/{member}/orders", order, staff)
    assert phone.status_code == 422 and phone.get_json()["code"] == "amount_too_large"
    assert snapshot(shop, member) == before
    charge = shop.post("/gateway/v1/charges", json={"token": shop.token(), "amount": 2**31})
    assert charge.status_code == 422
