"""Commerce fixtures: a seeded tenant on the AMS test client, and helpers that read in shop words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ADMIN

APPROVED = "4242424242424242"
TEST_CARDS = {
    "approved": APPROVED,
    "card_declined": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "processing_error": "4000000000000119",
    "challenge": "4000000000003220",
}


@dataclass
class Shop:
    """One seeded tenant seen through the AMS API (tenant key) and the console (admin key)."""

    ams: Any
    console: Any
    tenant: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def url(self, path: str) -> str:
        return f"/t/{self.tenant}{path}"

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.ams.get(self.url(path), headers=self.auth, **kwargs)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.ams.post(self.url(path), json=json, headers={**self.auth, **(headers or {})})

    def member_id(self, email: str) -> str:
        response = self.get("/api/members", query_string={"email": email})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["members"][0]["member_id"]

    def token(self, number: str = APPROVED) -> str:
        response = self.post(
            "/gateway/v1/tokens",
            {"card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}},
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def add(self, member_id: str, product_code: str, quantity: int = 1) -> Any:
        return self.post(
            f"/api/members/{member_id}/cart/items", {"product_code": product_code, "quantity": quantity}
        )

    def checkout(self, member_id: str, payment: dict[str, Any], key: str | None = None, **extra: Any) -> Any:
        headers = {"Idempotency-Key": key} if key else None
        return self.post(f"/api/members/{member_id}/cart/checkout", {"payment": payment, **extra}, headers)

    def buy(self, member_id: str, *codes: str, number: str = APPROVED) -> dict[str, Any]:
        for code in codes:
            assert self.add(member_id, code).status_code == 200
        response = self.checkout(member_id, {"card_token": self.token(number)})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def patch_settings(self, patch: dict[str, Any]) -> None:
        response = self.console.patch(f"/api/tenants/{self.tenant}/settings", json=patch, headers=ADMIN)
        assert response.status_code == 200, response.get_json()

    def advance(self, **amount: float) -> None:
        response = self.console.post(f"/api/tenants/{self.tenant}/clock/advance", json=amount, headers=ADMIN)
        assert response.status_code == 200, response.get_json()

    def orders(self) -> list[dict[str, Any]]:
        return self.get("/api/orders").get_json()["items"]

    def outbox_topics(self) -> list[str]:
        items = self.console.get(f"/api/tenants/{self.tenant}/outbox", headers=ADMIN).get_json()["items"]
        return [item["topic"] for item in items]


@pytest.fixture
def shop(ams: Any, console: Any, make_tenant: Any) -> Shop:
    tenant = make_tenant("shop", members=30, seed=5)
    return Shop(ams, console, tenant.id, tenant.api_key)
