"""After checkouts with every test card (API, storefront and gateway), no full card number is anywhere in
the SQLite database file (with its WAL) or in the captured logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.commerce.conftest import TEST_CARDS, Shop
from tests.commerce.test_store_page import add_to_cart, card_form, hidden_fields, sign_in


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def test_no_card_number_reaches_the_database_or_a_log(
    shop: Shop, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    member = shop.member_id("active.member@demo.test")
    for name, number in TEST_CARDS.items():
        shop.add(member, "ETH-101")
        token = shop.token(number)
        shop.checkout(member, {"card_token": token, "challenge_response": "pass"}, key=f"co-{name}")
        shop.post(
            "/gateway/v1/tokens",
            {"card": {"number": spaced(number), "exp_month": 1, "exp_year": 2030, "cvc": "321"}},
        )
    sign_in(shop)
    for number in TEST_CARDS.values():
        add_to_cart(shop, "CLE-204")
        form = {key: value for key, value in card_form(number, 0).items() if key != "expected_total"}
        tokens = {
            name: value
            for name, value in hidden_fields(shop, "/store/checkout").items()
            if "total" not in name
        }
        shop.ams.post(shop.url("/store/checkout"), data=form | tokens | {"challenge_response": "pass"})
    journal = shop.console.get(f"/api/tenants/{shop.tenant}/journal", query_string={"limit": 500},
                               headers={"Authorization": "Bearer test-admin-key"}).get_json()  # fmt: skip
    assert any(entry["path"].endswith("/gateway/v1/tokens") for entry in journal["entries"])
    assert len(shop.orders()) >= 3

    database = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    logs = caplog.text
    assert b"tok_" in stored and "tok_" in logs and "4242" in logs  # the scan looks at the right things
    for number in TEST_CARDS.values():
        for form in (
            number,
            spaced(number),
            spaced(number).replace(" ", "+"),
            spaced(number).replace(" ", "%20"),
        ):
            assert form.encode() not in stored, f"{form} found in the database"
            assert form not in logs, f"{form} found in the logs"
