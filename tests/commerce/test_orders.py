"""Purchase orders, bulk seats, phone orders by staff, refunds and cancellation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.commerce.conftest import Shop


def entitled(shop: Shop, member: str) -> list[str]:
    return shop.get(f"/api/members/{member}/entitlements").get_json()["course_codes"]


def org_with_members(shop: Shop) -> tuple[str, list[str], str]:
    """An organisation with at least two people, its member ids, and someone not in it."""
    members = shop.get("/api/members", query_string={"limit": 200}).get_json()["members"]
    by_org: dict[str, list[str]] = {}
    for member in members:
        if member["organisation"]:
            by_org.setdefault(member["organisation"]["org_id"], []).append(member["member_id"])
    org_id = next(org for org, people in sorted(by_org.items()) if len(people) >= 2)
    outsider = next(member["member_id"] for member in members if member["member_id"] not in by_org[org_id])
    return org_id, by_org[org_id], outsider


def test_a_purchase_order_is_invoiced_then_paid_and_only_then_grants_access(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "CEU-100")
    order = shop.checkout(member, {"po_number": "PO-7781"}).get_json()
    assert (order["status"], order["payment_method"], order["po_number"]) == ("invoiced", "po", "PO-7781")
    assert order["amount_due"] == order["total"] and entitled(shop, member) == []
    assert (
        shop.get("/api/ledger", query_string={"member_id": member}).get_json()["amount_due"] == order["total"]
    )
    number = order["number"]
    half = order["total"] // 2
    part = shop.post(f"/api/orders/{number}/payments", {"amount": half}).get_json()
    assert (part["status"], part["amount_due"]) == ("invoiced", order["total"] - half)
    over = shop.post(f"/api/orders/{number}/payments", {"amount": order["total"]})
    assert over.get_json()["code"] == "overpayment"
    paid = shop.post(f"/api/orders/{number}/payments", {"amount": order["total"] - half}).get_json()
    assert paid["status"] == "paid" and entitled(shop, member) == ["CEU-100"]
    balance = shop.get(f"/api/orders/{number}").get_json()["balance"]
    assert balance["amount_due"] == 0 and balance["accounts"]["cash"] == order["total"]
    assert shop.outbox_topics() == ["order.paid"]


def test_with_access_before_payment_an_invoice_grants_access_and_cancelling_removes_it(shop: Shop) -> None:
    shop.patch_settings({"commerce": {"access_before_payment": True}})
    member = shop.member_id("active.member@demo.test")
    shop.add(member, "CEU-150")
    order = shop.checkout(member, {"po_number": "PO-1"}).get_json()
    assert entitled(shop, member) == ["CEU-150"]
    cancelled = shop.post(f"/api/orders/{order['number']}/cancel").get_json()
    assert cancelled["status"] == "cancelled" and entitled(shop, member) == []
    assert shop.get(f"/api/orders/{order['number']}").get_json()["balance"]["amount_due"] == 0
    assert shop.outbox_topics() == ["order.invoiced", "order.cancelled"]


def test_a_refund_returns_the_money_and_takes_access_away(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    order = shop.buy(member, "ETH-101", "BUNDLE-CPE")
    assert entitled(shop, member) == ["CPE-110", "CPE-215", "CPE-W01", "ETH-101"]
    line_price = order["lines"][0]["line_total"]
    partial = shop.post(f"/api/orders/{order['number']}/refunds", {"product_code": "ETH-101"}).get_json()
    assert (partial["status"], partial["refunded_amount"]) == ("partially_refunded", line_price)
    assert entitled(shop, member) == ["CPE-110", "CPE-215", "CPE-W01"]
    full = shop.post(f"/api/orders/{order['number']}/refunds", {}).get_json()
    assert (full["status"], full["refunded_amount"]) == ("refunded", order["total"])
    assert entitled(shop, member) == []
    charge = shop.get(f"/gateway/v1/charges/{order['gateway_charge_id']}").get_json()
    assert (charge["status"], charge["refunded_amount"]) == ("refunded", order["total"])
    balance = shop.get(f"/api/orders/{order['number']}").get_json()["balance"]
    assert balance["accounts"]["cash"] == 0 and balance["net_sales"] == 0 and balance["balanced"]
    again = shop.post(f"/api/orders/{order['number']}/refunds", {})
    assert again.status_code == 409 and again.get_json()["code"] == "not_refundable"


def test_a_course_bought_twice_survives_the_refund_of_one_order(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    first = shop.buy(member, "ETH-101")
    shop.buy(member, "BUNDLE-CLE")
    shop.post(f"/api/orders/{first['number']}/refunds", {})
    assert "ETH-101" in entitled(shop, member)


def test_an_organisation_buys_seats_and_assigns_them_to_its_members(shop: Shop) -> None:
    org_id, people, outsider = org_with_members(shop)
    body = {"product_code": "CME-120", "seats": 1, "payment": {"card_token": shop.token()}}
    response = shop.post(f"/api/organisations/{org_id}/orders", body)
    order = response.get_json()
    assert response.status_code == 201 and order["channel"] == "bulk" and order["seats"]["total"] == 1
    assert entitled(shop, people[0]) == []
    wrong = shop.post(f"/api/orders/{order['number']}/seats", {"member_id": outsider})
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "not_in_organisation"
    assigned = shop.post(f"/api/orders/{order['number']}/seats", {"member_id": people[0]}).get_json()
    assert assigned["seats"]["assigned"] == [people[0]] and entitled(shop, people[0]) == ["CME-120"]
    full = shop.post(f"/api/orders/{order['number']}/seats", {"member_id": people[1]})
    assert full.status_code == 409 and full.get_json()["code"] == "no_free_seat"
    assert shop.outbox_topics() == ["seat.assigned"]
    shop.post(f"/api/orders/{order['number']}/refunds", {})
    assert entitled(shop, people[0]) == []


@pytest.mark.parametrize(
    ("staff_header", "status", "code"),
    [(None, 403, "staff_required"), ("member", 403, "not_staff")],
)
def test_phone_orders_need_a_staff_member(
    shop: Shop, staff_header: str | None, status: int, code: str
) -> None:
    member = shop.member_id("active.member@demo.test")
    headers = {"X-Staff-Member": member} if staff_header else None
    body: dict[str, Any] = {"items": [{"product_code": "ETH-101"}], "payment": {"card_token": shop.token()}}
    response = shop.post(f"/api/members/{member}/orders", body, headers)
    assert response.status_code == status and response.get_json()["code"] == code
    assert shop.orders() == []


def test_a_phone_order_is_recorded_with_the_staff_member_who_entered_it(shop: Shop) -> None:
    member = shop.member_id("student@demo.test")
    staff = shop.member_id("staff@demo.test")
    body = {"items": [{"product_code": "ETH-101", "quantity": 1}], "payment": {"card_token": shop.token()}}
    response = shop.post(f"/api/members/{member}/orders", body, {"X-Staff-Member": staff})
    order = response.get_json()
    assert response.status_code == 201
    assert (order["channel"], order["entered_by"], order["member_id"], order["price_class"]) == (
        "phone",
        staff,
        member,
        "student",
    )
    assert entitled(shop, member) == ["ETH-101"]
