"""``SandboxClient``: one HTTP client over the console, the AMS and the LMS, in domain words.

Scenarios, tests and conformance suites share it instead of each growing its own. It only ever speaks
HTTP to the public APIs (control API with a Bearer key, the AMS and LMS REST APIs); a non-2xx answer
raises :class:`ApiError` carrying the problem document's ``code``.

Example::

    client = SandboxClient("http://127.0.0.1:8000", "http://127.0.0.1:8001", "http://127.0.0.1:8002", key)
    acme = client.create_tenant("acme", seed=7, members=20)
    member = acme.member_by_email("active.member@demo.test")
    acme.add_to_cart(member["member_id"], "ETH-101")
"""

from __future__ import annotations

import datetime as dt
import ssl
from typing import Any

import httpx

from simulator.config import SandboxConfig
from simulator.core.http_failures import http_failure
from simulator.core.tls import client_verify

DEFAULT_TIMEOUT = 30.0
TEST_CARD = {"exp_month": 12, "exp_year": 2099, "cvc": "123"}


class ApiError(Exception):
    """A sandbox API answered with an error status."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.method = response.request.method
        self.url = str(response.request.url)
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        self.problem = body if isinstance(body, dict) else {}
        self.code = self.problem.get("code") or self.problem.get("error") or f"http_{self.status}"
        detail = self.problem.get("detail") or (response.text[:300] if not body else "")
        super().__init__(f"{self.method} {self.url} answered {self.status} {self.code}: {detail}".strip())


def call_failure(exc: ApiError | httpx.HTTPError) -> str:
    """Why a call to the sandbox failed, in words: the error it answered, or why no answer came."""
    if isinstance(exc, ApiError):
        return str(exc)
    return f"no answer came ({http_failure(exc)})"


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ApiError(response)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


class SandboxClient:
    """The control plane (admin or tenant key) plus the AMS and LMS base URLs.

    ``verify`` is the SSL context https:// calls verify with (default :func:`client_verify`: the default
    trust store plus ``SANDBOX_CA_BUNDLE``); the scenario's user agents use the same one.
    """

    def __init__(
        self,
        console_url: str,
        ams_url: str,
        lms_url: str,
        key: str,
        timeout: float = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.console_url = console_url.rstrip("/")
        self.ams_url = ams_url.rstrip("/")
        self.lms_url = lms_url.rstrip("/")
        self.key = key
        self.verify = verify or client_verify()
        self.http = httpx.Client(
            timeout=timeout, headers={"Authorization": f"Bearer {key}"}, verify=self.verify
        )

    @classmethod
    def from_config(cls, config: SandboxConfig) -> SandboxClient:
        return cls(config.console_url, config.ams_url, config.lms_url, config.effective_admin_key())

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def console(self, method: str, path: str, **kwargs: Any) -> Any:
        return _checked(self.http.request(method, f"{self.console_url}/api{path}", **kwargs))

    # tenants

    def create_tenant(
        self,
        tenant_id: str,
        name: str | None = None,
        seed: int = 0,
        members: int = 0,
        settings: dict[str, Any] | None = None,
        clock_start: dt.datetime | None = None,
    ) -> TenantClient:
        """Create and seed a tenant (admin key); the returned client uses the tenant's own key."""
        body: dict[str, Any] = {"id": tenant_id, "seed": seed, "members": members, "settings": settings or {}}
        if name:
            body["name"] = name
        if clock_start is not None:
            body["clock_start"] = clock_start.isoformat()
        created = self.console("POST", "/tenants", json=body)
        return TenantClient(self, tenant_id, created["api_key"])

    def tenant(self, tenant_id: str, key: str | None = None) -> TenantClient:
        """A client for an existing tenant (with this client's key unless ``key`` is given)."""
        return TenantClient(self, tenant_id, key or self.key)

    def delete_tenant(self, tenant_id: str) -> None:
        self.console("DELETE", f"/tenants/{tenant_id}")

    def find_tenant(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's summary, or None when there is no such tenant (or this key may not see it)."""
        try:
            return self.console("GET", f"/tenants/{tenant_id}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    # processes of a sandbox started by `sandbox up`

    def processes(self) -> list[dict[str, Any]]:
        return self.console("GET", "/processes")["processes"]

    def process(self, name: str) -> dict[str, Any] | None:
        """One process by name (``worker`` is ``worker-1``), or None when there is none."""
        wanted = "worker-1" if name == "worker" else name
        return next((found for found in self.processes() if found["name"] == wanted), None)

    def steer_process(self, name: str, action: str, **body: Any) -> dict[str, Any]:
        """``kill`` (signal, after_seconds), ``pause`` (seconds), ``resume`` or ``restart`` a process."""
        return self.console("POST", f"/processes/{name}/{action}", json=body)

    # scenario runs

    def store_scenario_run(self, result: dict[str, Any]) -> dict[str, Any]:
        return self.console("POST", "/scenario-runs", json=result)

    def scenario_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.console("GET", "/scenario-runs", params={"limit": limit})["runs"]

    def scenario_run(self, run_id: int) -> dict[str, Any]:
        return self.console("GET", f"/scenario-runs/{run_id}")

    # conformance runs

    def store_conformance_run(self, report: dict[str, Any]) -> dict[str, Any]:
        return self.console("POST", "/conformance-runs", json=report)

    def conformance_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.console("GET", "/conformance-runs", params={"limit": limit})["runs"]

    def conformance_run(self, run_id: int) -> dict[str, Any]:
        return self.console("GET", f"/conformance-runs/{run_id}")


class TenantClient:
    """Everything about one tenant: control plane, AMS API and LMS API, with its key."""

    def __init__(self, sandbox: SandboxClient, tenant_id: str, key: str) -> None:
        self.sandbox = sandbox
        self.tenant_id = tenant_id
        self.key = key
        self._headers = {"Authorization": f"Bearer {key}"}

    @property
    def ams_base(self) -> str:
        return f"{self.sandbox.ams_url}/t/{self.tenant_id}"

    @property
    def lms_base(self) -> str:
        return f"{self.sandbox.lms_url}/t/{self.tenant_id}"

    def _call(self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        merged = {**self._headers, **(headers or {})}
        return _checked(self.sandbox.http.request(method, url, headers=merged, **kwargs))

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.sandbox.console_url}/api/tenants/{self.tenant_id}{path}", **kwargs)

    def ams(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.ams_base}{path}", **kwargs)

    def lms(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.lms_base}{path}", **kwargs)

    # control plane

    def settings(self) -> dict[str, Any]:
        return self.control("GET", "/settings")

    def patch_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        return self.control(
            "PATCH", "/settings", json=patch, headers={"Content-Type": "application/merge-patch+json"}
        )

    def clock(self) -> dict[str, Any]:
        return self.control("GET", "/clock")

    def advance_clock(self, **amount: Any) -> dict[str, Any]:
        """``advance_clock(days=1)`` or ``advance_clock(until="2026-03-03T02:00:00Z")``."""
        return self.control("POST", "/clock/advance", json=amount)

    def set_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        return self.control("POST", "/faults", json=rule)

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def faults(self) -> list[dict[str, Any]]:
        return self.control("GET", "/faults")["rules"]

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Every journal entry matching ``filters`` (app, method, path, status), oldest first."""
        entries: list[dict[str, Any]] = []
        since = 0
        while True:
            params = {k: v for k, v in filters.items() if v is not None} | {"since": since, "limit": 1000}
            page = self.control("GET", "/journal", params=params)
            entries.extend(page["entries"])
            if not page["entries"]:
                return entries
            since = page["next_since"]

    def outbox(self, state: str | None = None, topic: str | None = None, limit: int = 500) -> dict[str, Any]:
        params = {k: v for k, v in {"state": state, "topic": topic, "limit": limit}.items() if v is not None}
        return self.control("GET", "/outbox", params=params)

    def add_inbox_secret(self) -> str:
        """A new secret the tenant's AMS writeback inbox trusts, for a sender of one's own."""
        return self.control("POST", "/writeback/inbox-secrets")["secret"]

    def delete_fault(self, rule_id: int) -> None:
        self.control("DELETE", f"/faults/{rule_id}")

    def inbox_items(self, result: str) -> list[dict[str, Any]]:
        """Every inbox item of one kind (``accepted`` records, ``duplicate`` or ``rejected`` log entries),
        oldest first, read page by page."""
        items: list[dict[str, Any]] = []
        since = 0
        while True:
            page = self.ams(
                "GET", "/api/writeback/inbox", params={"result": result, "since": since, "limit": 1000}
            )
            items.extend(page["items"])
            if len(page["items"]) < 1000:
                return items
            since = page["next_since"]

    def register_lms_service_provider(self) -> dict[str, Any]:
        """Register the tenant's own LMS as a SAML SP at its AMS (by the LMS's metadata URL)."""
        return self.control(
            "POST", "/saml/service-providers", json={"metadata_url": f"{self.lms_base}/saml/metadata"}
        )

    def register_service_provider(self, metadata_xml: str, **options: Any) -> dict[str, Any]:
        """Register (or replace, by entityID) a SAML SP from its metadata; options: sign, encrypt_assertion,
        attributes."""
        return self.control("POST", "/saml/service-providers", json={"metadata_xml": metadata_xml, **options})

    def service_providers(self) -> list[dict[str, Any]]:
        return self.control("GET", "/saml/service-providers")["service_providers"]

    def delete_service_provider(self, sp_id: int) -> None:
        self.control("DELETE", f"/saml/service-providers/{sp_id}")

    def mint_saml_response(self, **request: Any) -> dict[str, Any]:
        """A SAML Response signed with the tenant's IdP key, as ``POST …/saml/responses`` mints it."""
        return self.control("POST", "/saml/responses", json=request)

    # AMS: members

    def members(self, **filters: Any) -> list[dict[str, Any]]:
        return self.ams("GET", "/api/members", params=filters)["members"]

    def member(self, member_id: str) -> dict[str, Any]:
        return self.ams("GET", f"/api/members/{member_id}")

    def member_by_email(self, email: str) -> dict[str, Any] | None:
        found = self.members(email=email)
        return found[0] if found else None

    def create_member(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self.ams("POST", "/api/members", json=fields)

    def update_member(self, member_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.ams("PATCH", f"/api/members/{member_id}", json=fields)

    def delete_member(self, member_id: str) -> None:
        self.ams("DELETE", f"/api/members/{member_id}")

    # AMS: commerce

    def products(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The AMS catalog (prices in minor units per price class), optionally one kind of product."""
        return self.ams("GET", "/api/products", params={"kind": kind} if kind else {})["items"]

    def cart(self, member_id: str) -> dict[str, Any]:
        return self.ams("GET", f"/api/members/{member_id}/cart")

    def add_to_cart(self, member_id: str, product_code: str, quantity: int = 1) -> dict[str, Any]:
        return self.ams(
            "POST",
            f"/api/members/{member_id}/cart/items",
            json={"product_code": product_code, "quantity": quantity},
        )

    def apply_coupon(self, member_id: str, code: str | None) -> dict[str, Any]:
        return self.ams("PUT", f"/api/members/{member_id}/cart/coupon", json={"code": code})

    def card_token(self, number: str) -> str:
        """Tokenise a card at the gateway stub (the number goes nowhere else)."""
        return self.ams("POST", "/gateway/v1/tokens", json={"card": {"number": number, **TEST_CARD}})["id"]

    def checkout(
        self,
        member_id: str,
        payment: dict[str, Any],
        expected_total: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Buy the cart; with ``idempotency_key`` a retry (after a lost answer) gets the first order."""
        body: dict[str, Any] = {"payment": payment}
        if expected_total is not None:
            body["expected_total"] = expected_total
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.ams("POST", f"/api/members/{member_id}/cart/checkout", json=body, headers=headers)

    def orders(self, member_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Orders, oldest first (the API's default page is 100, at most 500; it has no cursor)."""
        params = {k: v for k, v in {"member_id": member_id, "limit": limit}.items() if v}
        return self.ams("GET", "/api/orders", params=params)["items"]

    def order(self, number: str) -> dict[str, Any]:
        return self.ams("GET", f"/api/orders/{number}")

    def record_payment(self, number: str, amount: int, reference: str) -> dict[str, Any]:
        return self.ams(
            "POST", f"/api/orders/{number}/payments", json={"amount": amount, "reference": reference}
        )

    def refund(self, number: str, product_code: str | None = None) -> dict[str, Any]:
        return self.ams("POST", f"/api/orders/{number}/refunds", json={"product_code": product_code})

    def cancel_order(self, number: str) -> dict[str, Any]:
        return self.ams("POST", f"/api/orders/{number}/cancel")

    def bulk_order(
        self, organisation: str, product_code: str, seats: int, payment: dict[str, Any]
    ) -> dict[str, Any]:
        return self.ams(
            "POST",
            f"/api/organisations/{organisation}/orders",
            json={"product_code": product_code, "seats": seats, "payment": payment},
        )

    def assign_seat(self, number: str, member_id: str) -> dict[str, Any]:
        return self.ams("POST", f"/api/orders/{number}/seats", json={"member_id": member_id})

    def phone_order(
        self,
        member_id: str,
        staff_member_id: str,
        items: list[dict[str, Any]],
        payment: dict[str, Any],
        coupon: str | None = None,
    ) -> dict[str, Any]:
        body = {"items": items, "payment": payment, "coupon": coupon}
        return self.ams(
            "POST", f"/api/members/{member_id}/orders", json=body, headers={"X-Staff-Member": staff_member_id}
        )

    def ledger(self, member_id: str | None = None, order: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"member_id": member_id, "order": order}.items() if v}
        return self.ams("GET", "/api/ledger", params=params)

    def entitlements(self, member_id: str) -> dict[str, Any]:
        return self.ams("GET", f"/api/members/{member_id}/entitlements")

    # AMS: writeback

    def transcript(self, member_id: str) -> dict[str, Any]:
        return self.ams("GET", f"/api/members/{member_id}/transcript")

    def inbox(self, result: str | None = None, limit: int = 500) -> dict[str, Any]:
        params = {k: v for k, v in {"result": result, "limit": limit}.items() if v is not None}
        return self.ams("GET", "/api/writeback/inbox", params=params)

    # LMS: learning

    def courses(self) -> list[dict[str, Any]]:
        return self.lms("GET", "/api/courses")["courses"]

    def enrollments(
        self, member_id: str | None = None, course_code: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Enrollments, oldest first (the API's default page is 100, at most 1000; it has no cursor)."""
        filters = {"member_id": member_id, "course_code": course_code, "limit": limit}
        params = {k: v for k, v in filters.items() if v}
        return self.lms("GET", "/api/enrollments", params=params)["enrollments"]

    def enroll(self, member_id: str, course_code: str) -> dict[str, Any]:
        return self.lms("POST", "/api/enrollments", json={"member_id": member_id, "course_code": course_code})

    def start_enrollment(self, enrollment_id: int) -> dict[str, Any]:
        return self.lms("POST", f"/api/enrollments/{enrollment_id}/start")

    def complete_enrollment(self, enrollment_id: int, score: float) -> dict[str, Any]:
        return self.lms("POST", f"/api/enrollments/{enrollment_id}/complete", json={"score": score})

    def attend(self, enrollment_id: int, minutes: int) -> dict[str, Any]:
        return self.lms("POST", f"/api/enrollments/{enrollment_id}/attend", json={"minutes": minutes})
