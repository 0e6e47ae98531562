"""``checkout``: new members buying one or two courses at the AMS by card.

Each user is a shop client with the tenant key and a keep-alive connection to the AMS. A checkout is a
new person each time: it creates a member with an id of its own (``POST /t/{t}/api/members``,
``LT<run><hex>``), adds one or two distinct products of the prepared catalog to the member's cart
(``POST …/cart/items``, whose answer is the priced cart), tokenises a gateway test card (``POST
/t/{t}/gateway/v1/tokens``) and checks out with the total it was shown (``POST …/cart/checkout``,
``expected_total``). The card approves (4242 4242 4242 4242), or for a share ``declines`` of checkouts
declines (4000 0000 0000 0002 ``card_declined`` or 4000 0000 0000 9995 ``insufficient_funds``, answered
402). Tokenising and checking out carry an ``Idempotency-Key`` and are retried with it after a connection
error, 408, 425, 429 or 5xx: a retry can never pay twice. The paid order's ``order.paid`` then travels
the AMS's outbox to the LMS, which enrols the member (purchase sync ``immediate``).

Every checkout is noted in the ledger (kind ``checkouts``, keyed by member id) before its first request,
with ``products``, ``card`` (``approve`` or ``decline``: what the card should do) and ``outcome:
unconfirmed``; then ``step`` (the last request made), ``status``, ``attempts``, and the outcome: ``paid``
(with ``order``, the order number, and ``total``), ``declined`` (with ``reason``, the decline code) or
``failed`` (an error status or no answer at any step).

Options: ``declines`` (share paid with a declining card, default 0.2), ``max_attempts`` (per tokenisation
or checkout, default 4), ``retry_cap_seconds`` (longest wait between attempts, default 2).
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from locust import task

from loadtests.locustfiles.support import SandboxUser, ledger, plan_of, with_retries
from loadtests.plan import buyer_prefix, part_data

APPROVING_CARD = "4242424242424242"
DECLINING_CARDS = ("4000000000000002", "4000000000009995")
CARD_DETAILS = {"exp_month": 12, "exp_year": 2099, "cvc": "123"}


class Buyer(SandboxUser):
    """A shop client: a new member, a cart of one or two courses, a card, a checkout."""

    weight = 1

    def on_start(self) -> None:
        plan = plan_of(self.environment)
        self.plan = plan
        self.headers = {"Authorization": f"Bearer {plan.tenant_key}"}
        self.products: list[str] = part_data(plan, "checkout")["products"]
        self.declines = float(plan.options.get("declines", 0.2))
        self.max_attempts = int(plan.options.get("max_attempts", 4))
        self.retry_cap = float(plan.options.get("retry_cap_seconds", 2.0))
        self.base = plan.ams_base

    @task
    def checkout(self) -> None:
        member_id = f"{buyer_prefix(self.plan.run_id)}{uuid.uuid4().hex[:12]}"
        products = random.sample(self.products, k=min(random.choice((1, 2)), len(self.products)))
        declining = random.random() < self.declines
        card = random.choice(DECLINING_CARDS) if declining else APPROVING_CARD
        ledger.note(
            "checkouts",
            member_id,
            products=products,
            card="decline" if declining else "approve",
            outcome="unconfirmed",
            step="",
        )
        ledger.note("checkouts", member_id, **self._buy(member_id, products, card, declining))

    def _buy(self, member_id: str, products: list[str], card: str, declining: bool) -> dict[str, Any]:
        """Create the member, fill the cart, tokenise the card, check out; the facts for the ledger."""
        member = {
            "member_id": member_id,
            "email": f"{member_id.lower()}@loadtest.test",
            "given_name": "Load",
            "family_name": f"Buyer {member_id[-6:]}",
        }
        step = "AMS POST /api/members"
        status, _ = self._once("POST", f"{self.base}/api/members", member, step, 201)
        if status != 201:
            return {"outcome": "failed", "step": step, "status": status}
        cart: Any = None
        step = "AMS POST /api/members/{id}/cart/items"
        for product in products:
            body = {"product_code": product, "quantity": 1}
            status, cart = self._once(
                "POST", f"{self.base}/api/members/{member_id}/cart/items", body, step, 200
            )
            if status != 200:
                return {"outcome": "failed", "step": step, "status": status}
        step = "AMS POST /gateway/v1/tokens"
        status, token, attempts = self._idempotent(
            f"{self.base}/gateway/v1/tokens", {"card": {"number": card, **CARD_DETAILS}}, step, {201}
        )
        if status != 201:
            return {"outcome": "failed", "step": step, "status": status, "attempts": attempts}
        step = "AMS POST /api/members/{id}/cart/checkout"
        body = {"payment": {"card_token": token["id"]}, "expected_total": cart["total"]}
        expected = {402} if declining else {201}
        status, order, attempts = self._idempotent(
            f"{self.base}/api/members/{member_id}/cart/checkout", body, step, expected
        )
        facts: dict[str, Any] = {"step": step, "status": status, "attempts": attempts}
        if status == 201:
            return {**facts, "outcome": "paid", "order": order["number"], "total": order["total"]}
        if status == 402:
            return {**facts, "outcome": "declined", "reason": (order or {}).get("code")}
        return {**facts, "outcome": "failed"}

    def _once(self, method: str, url: str, body: dict[str, Any], name: str, expected: int) -> tuple[int, Any]:
        """One request (not retried: these calls are not idempotent); (status, JSON answer or None)."""
        with self.client.request(
            method, url, json=body, headers=self.headers, name=name, catch_response=True
        ) as r:
            if r.status_code != expected:
                r.failure(f"{r.status_code}")
                return r.status_code, None
            return r.status_code, _json(r)

    def _idempotent(
        self, url: str, body: dict[str, Any], name: str, expected: set[int]
    ) -> tuple[int, Any, int]:
        """POST with an ``Idempotency-Key``, retried with the same key; (status, JSON answer, attempts).

        A status in ``expected`` counts as a success in the statistics (a 402 is the answer a declining
        card should get); a 402 to an approving card, or a 201 to a declining one, as a failure.
        """
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}

        def attempt(_number: int) -> tuple[int, Any]:
            with self.client.post(url, json=body, headers=headers, name=name, catch_response=True) as r:
                if r.status_code in expected:
                    r.success()
                else:
                    r.failure(f"{r.status_code}")
                return r.status_code, r

        status, response, attempts = with_retries(attempt, self.max_attempts, self.retry_cap)
        return status, _json(response), attempts


def _json(response: Any) -> Any:
    try:
        return json.loads(response.text or "null")
    except (ValueError, TypeError):
        return None
