"""A card past its expiry month is declined at tokenisation (402 `expired_card`) and nothing of it is
kept; a card is good through its expiry month, on the tenant's business clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from simulator.ams.gateway.models import CardToken
from simulator.core.db import Database
from tests.commerce.conftest import APPROVED, Shop
from tests.commerce.test_store_page import card_form, sign_in
from tests.conftest import ADMIN


def tokenise(shop: Shop, exp_month: int, exp_year: int, key: str | None = None) -> Any:
    card = {"number": APPROVED, "exp_month": exp_month, "exp_year": exp_year, "cvc": "123"}
    return shop.post("/gateway/v1/tokens", {"card": card}, {"Idempotency-Key": key} if key else None)


def stored_tokens(db: Database, tenant_id: str) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(CardToken).where(CardToken.tenant_id == tenant_id)
        )


def business_today(shop: Shop) -> dt.date:
    """Today on the tenant's business clock, frozen so that no month ends during the test."""
    clock = shop.console.post(f"/api/tenants/{shop.tenant}/clock/freeze", headers=ADMIN)
    assert clock.status_code == 200, clock.get_json()
    return dt.datetime.fromisoformat(clock.get_json()["local_now"]).date()


def test_a_card_that_expired_in_2020_is_declined_and_nothing_is_kept(shop: Shop, db: Database) -> None:
    response = tokenise(shop, 1, 2020)

    assert response.status_code == 402
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert (problem["code"], problem["detail"]) == ("expired_card", "The card has expired.")
    assert "id" not in problem and "charge" not in problem
    assert stored_tokens(db, shop.tenant) == 0


def test_a_card_is_good_through_its_expiry_month_and_declined_the_month_after(
    shop: Shop, db: Database
) -> None:
    today = business_today(shop)
    last_month = today.replace(day=1) - dt.timedelta(days=1)

    assert tokenise(shop, today.month, today.year).status_code == 201
    assert tokenise(shop, last_month.month, last_month.year).get_json()["code"] == "expired_card"
    assert stored_tokens(db, shop.tenant) == 1


def test_a_card_expires_on_the_business_clock(shop: Shop) -> None:
    today = business_today(shop)
    assert tokenise(shop, today.month, today.year).status_code == 201

    shop.advance(days=32)

    assert tokenise(shop, today.month, today.year).get_json()["code"] == "expired_card"


def test_the_store_refuses_an_expired_card_and_places_no_order(shop: Shop, db: Database) -> None:
    sign_in(shop)
    store = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    form = {"product_code": "ETH-101", "quantity": "1"}
    assert shop.ams.post(shop.url("/store/cart"), data={**form, **csrf_of(store)}).status_code == 303
    page = shop.ams.get(shop.url("/store")).get_data(as_text=True)
    total = int(page.split('name="expected_total" value="')[1].split('"')[0])

    response = shop.ams.post(
        shop.url("/store/checkout"), data={**card_form(APPROVED, total), "exp_year": "2020", **csrf_of(page)}
    )

    assert response.status_code == 402 and "The card has expired." in response.get_data(as_text=True)
    assert shop.orders() == [] and stored_tokens(db, shop.tenant) == 0


def csrf_of(page: str) -> dict[str, str]:
    """The hidden fields a store form carries (its CSRF token)."""
    return {"csrf_token": page.split('name="csrf_token" value="')[1].split('"', maxsplit=1)[0]}
