"""The payment gateway stub: tokens, every test card, challenge, refunds, voids, Idempotency-Key."""

from __future__ import annotations

import pytest

from tests.commerce.conftest import APPROVED, TEST_CARDS, Shop


def charge(shop: Shop, token: str, amount: int = 1000, key: str | None = None) -> object:
    headers = {"Idempotency-Key": key} if key else None
    return shop.post("/gateway/v1/charges", {"token": token, "amount": amount}, headers)


def test_a_token_keeps_brand_last_four_expiry_and_a_keyed_fingerprint_only(shop: Shop) -> None:
    response = shop.post(
        "/gateway/v1/tokens",
        {"card": {"number": "4242 4242 4242 4242", "exp_month": 4, "exp_year": 2030, "cvc": "999"}},
    )
    token = response.get_json()
    assert response.status_code == 201
    assert (token["brand"], token["last4"], token["exp_month"], token["exp_year"]) == (
        "visa",
        "4242",
        4,
        2030,
    )
    assert APPROVED not in response.get_data(as_text=True)
    # The CVC is never kept: no field holds it (the random id and fingerprint may contain "999").
    assert "cvc" not in token and "999" not in [str(value) for value in token.values()]
    again = shop.post(
        "/gateway/v1/tokens", {"card": {"number": APPROVED, "exp_month": 4, "exp_year": 2030, "cvc": "123"}}
    ).get_json()
    assert again["fingerprint"] == token["fingerprint"] and again["id"] != token["id"]


def test_a_number_that_fails_the_luhn_check_is_refused(shop: Shop) -> None:
    response = shop.post(
        "/gateway/v1/tokens",
        {"card": {"number": "4242424242424241", "exp_month": 4, "exp_year": 2030, "cvc": "123"}},
    )
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_card_number"


@pytest.mark.parametrize("outcome", [name for name in TEST_CARDS if name not in ("approved", "challenge")])
def test_each_decline_card_answers_402_with_its_code(shop: Shop, outcome: str) -> None:
    response = charge(shop, shop.token(TEST_CARDS[outcome]))
    assert response.status_code == 402
    problem = response.get_json()
    assert problem["code"] == outcome and problem["charge"]["status"] == "failed"
    assert response.mimetype == "application/problem+json"


def test_the_approved_card_is_charged(shop: Shop) -> None:
    response = charge(shop, shop.token(), 2599)
    assert response.status_code == 201
    assert (response.get_json()["status"], response.get_json()["amount"]) == ("succeeded", 2599)


def test_the_challenge_card_needs_a_second_call(shop: Shop) -> None:
    pending = charge(shop, shop.token(TEST_CARDS["challenge"])).get_json()
    assert pending["status"] == "requires_action"
    confirmed = shop.post(f"/gateway/v1/charges/{pending['id']}/confirm", {"challenge_response": "pass"})
    assert confirmed.get_json()["status"] == "succeeded"
    other = charge(shop, shop.token(TEST_CARDS["challenge"])).get_json()
    failed = shop.post(f"/gateway/v1/charges/{other['id']}/confirm", {"challenge_response": "wrong"})
    assert failed.status_code == 402 and failed.get_json()["code"] == "challenge_failed"


def test_refunds_are_partial_or_full_and_never_exceed_the_charge(shop: Shop) -> None:
    made = charge(shop, shop.token(), 5000).get_json()
    partial = shop.post(f"/gateway/v1/charges/{made['id']}/refunds", {"amount": 1500}).get_json()
    assert (partial["status"], partial["refunded_amount"]) == ("partially_refunded", 1500)
    too_much = shop.post(f"/gateway/v1/charges/{made['id']}/refunds", {"amount": 4000})
    assert too_much.status_code == 422 and too_much.get_json()["code"] == "invalid_refund_amount"
    rest = shop.post(f"/gateway/v1/charges/{made['id']}/refunds", {}).get_json()
    assert (rest["status"], rest["refunded_amount"], len(rest["refunds"])) == ("refunded", 5000, 2)


def test_a_charge_is_voided_once(shop: Shop) -> None:
    made = charge(shop, shop.token()).get_json()
    assert shop.post(f"/gateway/v1/charges/{made['id']}/void").get_json()["status"] == "voided"
    assert shop.post(f"/gateway/v1/charges/{made['id']}/void").status_code == 409
    assert shop.post(f"/gateway/v1/charges/{made['id']}/refunds", {}).status_code == 409


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(shop: Shop) -> None:
    token = shop.token()
    first = charge(shop, token, 1000, key="pay-1")
    again = charge(shop, token, 1000, key="pay-1")
    assert again.get_json() == first.get_json() and again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    other = charge(shop, token, 2000, key="pay-1")
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    declined_token = shop.token(TEST_CARDS["card_declined"])
    decline = charge(shop, declined_token, 1000, key="pay-2")
    assert charge(shop, declined_token, 1000, key="pay-2").get_json() == decline.get_json()


def test_idempotency_keys_expire_after_24_hours_of_business_time(shop: Shop) -> None:
    token = shop.token()
    first = charge(shop, token, 1000, key="daily").get_json()
    shop.advance(hours=23)
    assert charge(shop, token, 1000, key="daily").get_json()["id"] == first["id"]
    shop.advance(hours=2)
    fresh = charge(shop, token, 1000, key="daily")
    assert fresh.status_code == 201 and fresh.get_json()["id"] != first["id"]
    assert "Idempotent-Replayed" not in fresh.headers


def test_the_gateway_needs_the_tenant_key(shop: Shop) -> None:
    response = shop.ams.post(shop.url("/gateway/v1/charges"), json={"token": "x", "amount": 1})
    assert response.status_code == 401
