"""The AMS storefront page for the signed-in member: own prices, a cart that survives logout, checkout."""

from __future__ import annotations

from tests.commerce.conftest import TEST_CARDS, Shop


def sign_in(shop: Shop, email: str = "active.member@demo.test") -> None:
    response = shop.ams.post(
        shop.url("/login"), data={"email": email, "password": "demo", "next": shop.url("/store")}
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)


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
    assert (
        shop.ams.post(shop.url("/store/cart"), data={"product_code": "ETH-101", "quantity": "1"}).status_code
        == 303
    )
    shop.ams.post(shop.url("/logout"))
    assert shop.ams.get(shop.url("/store")).status_code == 302

    sign_in(shop)
    page = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    assert f'id="total">{member_price / 100:.2f}<' in page

    declined = shop.ams.post(
        shop.url("/store/checkout"), data=card_form(TEST_CARDS["insufficient_funds"], member_price)
    )
    assert declined.status_code == 402 and "insufficient funds" in declined.get_data(as_text=True)
    assert shop.orders() == []

    paid = shop.ams.post(shop.url("/store/checkout"), data=card_form(TEST_CARDS["approved"], member_price))
    assert paid.status_code == 200 and "is paid" in paid.get_data(as_text=True)
    [order] = shop.orders()
    assert (order["member_id"], order["channel"], order["total"]) == (member, "web", member_price)
    assert 'id="cart-empty"' in paid.get_data(as_text=True)


def test_a_bad_quantity_on_the_page_is_refused(shop: Shop) -> None:
    sign_in(shop)
    response = shop.ams.post(shop.url("/store/cart"), data={"product_code": "ETH-101", "quantity": "-2"})
    assert response.status_code == 422 and "at least 1" in response.get_data(as_text=True)
