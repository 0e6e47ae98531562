"""Catalog and pricing: the seeded catalog, prices by member type and status, bundles, coupons."""

from __future__ import annotations

import datetime as dt

from tests.commerce.conftest import Shop


def test_the_seeded_catalog_maps_every_lms_course_and_has_bundles_a_book_and_a_ticket(shop: Shop) -> None:
    products = shop.get("/api/products").get_json()["items"]
    by_kind: dict[str, list[str]] = {}
    for product in products:
        by_kind.setdefault(product["kind"], []).append(product["code"])
    assert len(by_kind["course"]) + len(by_kind["webinar"]) == 12
    assert len(by_kind["bundle"]) == 2 and by_kind["book"] == ["BOOK-ETHICS"]
    assert by_kind["event_ticket"] == ["TICKET-CONF"]
    lms_products = [p for p in products if p["kind"] in ("course", "webinar")]
    assert all(p["lms_code"] == p["code"] for p in lms_products)
    assert all(isinstance(p["default_price"], int) for p in products)


def test_the_price_follows_member_type_and_status(shop: Shop) -> None:
    eth = shop.get("/api/products/ETH-101").get_json()["prices"]
    prices = {}
    for email in ("active.member@demo.test", "grace.member@demo.test", "student@demo.test",
                  "lapsed.member@demo.test", "nonmember@demo.test"):  # fmt: skip
        member = shop.member_id(email)
        cart = shop.add(member, "ETH-101").get_json()
        prices[email.split("@")[0]] = (cart["price_class"], cart["lines"][0]["unit_price"])
    assert prices == {
        "active.member": ("member", eth["member"]),
        "grace.member": ("member", eth["member"]),
        "student": ("student", eth["student"]),
        "lapsed.member": ("non_member", eth["non_member"]),
        "nonmember": ("non_member", eth["non_member"]),
    }
    assert eth["student"] < eth["member"] < eth["non_member"]


def test_a_setting_lets_lapsed_members_keep_the_member_price(shop: Shop) -> None:
    lapsed = shop.member_id("lapsed.member@demo.test")
    shop.add(lapsed, "ETH-101")
    shop.patch_settings({"access": {"lapsed_pays_member_price": True}})
    cart = shop.get(f"/api/members/{lapsed}/cart").get_json()
    assert cart["price_class"] == "member"
    assert cart["total"] == shop.get("/api/products/ETH-101").get_json()["prices"]["member"]


def test_a_bundle_costs_less_than_its_items_and_shows_the_saving(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    bundle = shop.get("/api/products/BUNDLE-CLE").get_json()
    separately = sum(
        shop.get(f"/api/products/{code}").get_json()["prices"]["member"] for code in bundle["bundle_items"]
    )
    line = shop.add(member, "BUNDLE-CLE").get_json()["lines"][0]
    assert line["unit_price"] == bundle["prices"]["member"] < separately
    assert line["bundle_saving"] == separately - line["unit_price"]
    assert line["lms_codes"] == sorted(bundle["bundle_items"])


def test_products_are_created_and_updated_and_bad_ones_refused(shop: Shop) -> None:
    made = shop.post(
        "/api/products", {"code": "GIFT-1", "kind": "book", "title": "Gift", "default_price": 1000}
    )
    assert made.status_code == 201
    changed = shop.ams.patch(
        shop.url("/api/products/GIFT-1"), json={"prices": {"member": 800}}, headers=shop.auth
    )
    assert changed.get_json()["prices"] == {"member": 800}
    no_code = shop.post("/api/products", {"code": "C-1", "kind": "course", "title": "x", "default_price": 1})
    assert no_code.status_code == 422
    bad_bundle = shop.post(
        "/api/products",
        {"code": "B-1", "kind": "bundle", "title": "x", "default_price": 1, "bundle_items": ["NOPE"]},
    )
    assert bad_bundle.get_json()["code"] == "unknown_product"
    negative = shop.post("/api/products", {"code": "N-1", "kind": "book", "title": "x", "default_price": -5})
    assert negative.status_code == 422
    assert shop.get("/api/products/N-1").status_code == 404


def test_coupons_take_percent_or_amount_off_until_they_expire_or_run_out(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    subtotal = shop.add(member, "CPE-215").get_json()["subtotal"]
    percent = shop.ams.put(
        shop.url(f"/api/members/{member}/cart/coupon"), json={"code": "WELCOME10"}, headers=shop.auth
    )
    assert percent.get_json()["discount"] == (subtotal * 10 + 50) // 100
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    assert (
        shop.post(
            "/api/coupons", {"code": "ONCE", "amount_off": 500, "usage_limit": 1, "expires_at": expires}
        ).status_code
        == 201
    )
    amount = shop.ams.put(
        shop.url(f"/api/members/{member}/cart/coupon"), json={"code": "ONCE"}, headers=shop.auth
    )
    assert amount.get_json()["total"] == subtotal - 500
    order = shop.checkout(member, {"card_token": shop.token()}).get_json()
    assert (order["discount"], order["total"], order["coupon"]) == (500, subtotal - 500, "ONCE")
    shop.add(member, "CPE-215")
    used_up = shop.ams.put(
        shop.url(f"/api/members/{member}/cart/coupon"), json={"code": "ONCE"}, headers=shop.auth
    )
    assert used_up.get_json()["code"] == "coupon_used_up"
    assert (
        shop.post("/api/coupons", {"code": "SOON", "percent_off": 5, "expires_at": expires}).status_code
        == 201
    )
    shop.advance(days=3)
    expired = shop.ams.put(
        shop.url(f"/api/members/{member}/cart/coupon"), json={"code": "SOON"}, headers=shop.auth
    )
    assert expired.status_code == 422 and expired.get_json()["code"] == "coupon_expired"


def test_a_product_update_refuses_null_for_fields_that_cannot_be_empty(shop: Shop) -> None:
    before = shop.get("/api/products/ETH-101").get_json()
    for field in ("active", "title", "default_price", "prices", "bundle_items"):
        response = shop.ams.patch(shop.url("/api/products/ETH-101"), json={field: None}, headers=shop.auth)
        assert response.status_code == 422, field
        assert response.get_json()["errors"][0]["field"] == field
    assert shop.get("/api/products/ETH-101").get_json() == before
