"""The AMS storefront page for the signed-in member: own prices, a cart that survives logout, checkout;
its forms carry a CSRF token, and a paid checkout redirects to the order's page (post/redirect/get)."""

from __future__ import annotations

import re

from tests.commerce.conftest import TEST_CARDS, Shop


def sign_in(shop: Shop, email: str = "active.member@demo.test") -> None:
    response = shop.ams.post(
        shop.url("/login"), data={"email": email, "password": "demo", "next": shop.url("/store")}
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)


def hidden_fields(shop: Shop, action: str) -> dict[str, str]:
    """The hidden fields of the store page's form that posts to ``action`` (its CSRF token…)."""
    page = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    form = re.search(rf'<form method="post" action="{re.escape(shop.url(action))}">(.*?)</form>', page, re.S)
    assert form is not None, page
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)))


def add_to_cart(shop: Shop, product_code: str, quantity: str = "1") -> object:
    fields = {**hidden_fields(shop, "/store/cart"), "product_code": product_code, "quantity": quantity}
    return shop.ams.post(shop.url("/store/cart"), data=fields)


def pay(shop: Shop, number: str, **card: str) -> object:
    """Submit the store's checkout form as the page renders it, with the card ``number``."""
    fields = hidden_fields(shop, "/store/checkout")
    return shop.ams.post(
        shop.url("/store/checkout"),
        data={**card_form(number, int(fields["expected_total"])), **fields, **card},
    )


def card_form(number: str, total: int) -> dict[str, str]:
    return {
        "card_number": number,
        "exp_month": "12",
        "exp_year": "2031",
        "cvc": "123",
        "expected_total": str(total),
    }


def test_the_store_asks_for_a_sign_in(shop: Shop) -> None:
    response = shop.ams.get(shop.url("/store"))
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_a_member_shops_signs_out_comes_back_to_the_same_cart_and_pays(shop: Shop) -> None:
    member = shop.member_id("active.member@demo.test")
    member_price = shop.get("/api/products/ETH-101").get_json()["prices"]["member"]
    sign_in(shop)
    page = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    assert "Professional Ethics in Practice" in page and f"{member_price / 100:.2f}" in page
    assert add_to_cart(shop, "ETH-101").status_code == 303
    shop.ams.post(shop.url("/logout"))
    assert shop.ams.get(shop.url("/store")).status_code == 302

    sign_in(shop)
    page = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    assert f'id="total">{member_price / 100:.2f}<' in page

    declined = pay(shop, TEST_CARDS["insufficient_funds"])
    assert declined.status_code == 402 and "insufficient funds" in declined.get_data(as_text=True)
    assert shop.orders() == []

    paid = pay(shop, TEST_CARDS["approved"])
    [order] = shop.orders()
    assert paid.status_code == 303
    assert paid.headers["Location"] == shop.url(f"/store/orders/{order['number']}")
    confirmation = shop.ams.get(paid.headers["Location"])
    assert confirmation.status_code == 200
    assert f"order {order['number']} is paid" in confirmation.get_data(as_text=True)
    assert (order["member_id"], order["channel"], order["total"]) == (member, "web", member_price)
    assert 'id="cart-empty"' in shop.ams.get(shop.url("/store")).get_data(as_text=True)


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(shop: Shop) -> None:
    sign_in(shop)
    assert add_to_cart(shop, "ETH-101").status_code == 303
    fields = hidden_fields(shop, "/store/checkout")
    total = int(fields["expected_total"])

    no_token = shop.ams.post(shop.url("/store/checkout"), data=card_form(TEST_CARDS["approved"], total))
    wrong_token = shop.ams.post(
        shop.url("/store/checkout"),
        data={**card_form(TEST_CARDS["approved"], total), **fields, "csrf_token": "x" + fields["csrf_token"]},
    )
    no_cart_token = shop.ams.post(shop.url("/store/cart"), data={"product_code": "CLE-204", "quantity": "1"})

    for refused in (no_token, wrong_token, no_cart_token):
        assert refused.status_code == 400
        assert "did not come from this page" in refused.get_data(as_text=True)
    assert shop.orders() == []
    assert "CLE-204" not in shop.ams.get(shop.url("/store")).get_data(as_text=True).split('id="cart"')[1]


def test_another_browsers_token_is_refused(shop: Shop) -> None:
    sign_in(shop)
    fields = hidden_fields(shop, "/store/cart")
    other = Shop(shop.ams.application.test_client(), shop.console, shop.tenant, shop.api_key)
    sign_in(other)

    refused = other.ams.post(other.url("/store/cart"), data={**fields, "product_code": "ETH-101"})

    assert refused.status_code == 400
    assert 'id="cart-empty"' in other.ams.get(other.url("/store")).get_data(as_text=True)


def test_the_same_checkout_form_posted_twice_places_one_order(shop: Shop) -> None:
    sign_in(shop)
    assert add_to_cart(shop, "ETH-101").status_code == 303
    fields = hidden_fields(shop, "/store/checkout")
    form = {**card_form(TEST_CARDS["approved"], int(fields["expected_total"])), **fields}

    first = shop.ams.post(shop.url("/store/checkout"), data=form)
    again = shop.ams.post(shop.url("/store/checkout"), data=form)

    [order] = shop.orders()
    assert first.status_code == again.status_code == 303
    assert (
        first.headers["Location"] == again.headers["Location"] == shop.url(f"/store/orders/{order['number']}")
    )


def test_an_order_page_shows_only_the_signed_in_members_own_orders(shop: Shop) -> None:
    sign_in(shop)
    assert add_to_cart(shop, "ETH-101").status_code == 303
    location = pay(shop, TEST_CARDS["approved"]).headers["Location"]
    shop.ams.post(shop.url("/logout"))
    assert shop.ams.get(location).status_code == 302

    sign_in(shop, "student@demo.test")
    response = shop.ams.get(location)

    assert response.status_code == 404 and "There is no order" in response.get_data(as_text=True)


def test_a_bad_quantity_on_the_page_is_refused(shop: Shop) -> None:
    sign_in(shop)
    response = add_to_cart(shop, "ETH-101", quantity="-2")
    assert response.status_code == 422 and "at least 1" in response.get_data(as_text=True)
