"""Purchase sync over real HTTP: the AMS and the LMS on free 127.0.0.1 ports, signed webhooks delivered by
the outbox (``immediate``), or entitlements pulled by the LMS at an OpenID Connect sign-on
(``next_sign_on``). Both modes end with the same enrollments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import simulator.jobs  # noqa: F401 - registers outbox delivery as due work
from simulator.core.db import Database
from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.webhooks import sign_headers
from simulator.lms.sso import remote
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.sso.sp_support import form_action_and_fields
from tests.writeback.conftest import FAST_RETRY, World, serve

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
EMAIL = "active.member@demo.test"


class Market(World):
    """The world of tests/writeback, plus shopping through the AMS API and signing in at the LMS."""

    def member(self, email: str = EMAIL) -> str:
        with self.ams() as ams:
            return ams.get("/api/members", params={"email": email}).json()["members"][0]["member_id"]

    def buy(self, member_id: str, *codes: str, payment: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.ams() as ams:
            for code in codes:
                assert (
                    ams.post(f"/api/members/{member_id}/cart/items", json={"product_code": code}).status_code
                    == 200
                )
            if payment is None:
                payment = {"card_token": ams.post("/gateway/v1/tokens", json={"card": CARD}).json()["id"]}
            response = ams.post(f"/api/members/{member_id}/cart/checkout", json={"payment": payment})
        assert response.status_code == 201, response.text
        return response.json()

    def refund(self, number: str, product_code: str | None = None) -> None:
        with self.ams() as ams:
            response = ams.post(f"/api/orders/{number}/refunds", json={"product_code": product_code})
        assert response.status_code == 200, response.text

    def enrolled(self, member_id: str) -> list[str]:
        with self.lms() as lms:
            response = lms.get("/api/enrollments", params={"member_id": member_id})
        assert response.status_code == 200, response.text
        return sorted(item["course_code"] for item in response.json()["enrollments"])

    def sign_in(self, email: str = EMAIL) -> dict[str, Any]:
        """A browser signs in at the LMS through the AMS (OpenID Connect) and lands on /me."""
        with httpx.Client(follow_redirects=True, timeout=20) as browser:
            page = browser.get(f"{self.config.lms_url}/t/{self.tenant}/login")
            action, fields = form_action_and_fields(page.text)
            fields.update({"email": email, "password": "demo"})
            landed = browser.post(httpx.URL(str(page.url)).join(action), data=fields)
        assert landed.status_code == 200, landed.text
        return landed.json()

    def purchase_endpoint(self) -> tuple[str, str]:
        with self.db.read() as session:
            endpoint = session.scalar(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.tenant_id == self.tenant, WebhookEndpoint.name == "lms-purchases"
                )
            )
            return endpoint.url, endpoint.secret


@pytest.fixture
def market(tmp_path: Path, db_url: str) -> Iterator[Market]:
    from simulator.ams.app import create_app as ams_app
    from simulator.console.app import create_app as console_app
    from simulator.lms.app import create_app as lms_app

    remote.clear_cache()
    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    servers = [serve(ams_app(config, db), ams_port), serve(lms_app(config, db), lms_port)]
    console = console_app(config, db).test_client()
    settings = {"retry": FAST_RETRY, "sso": {"protocol": "oidc"}}
    response = console.post(
        "/api/tenants", json={"id": "mkt", "members": 5, "seed": 3, "settings": settings}, headers=ADMIN
    )
    assert response.status_code == 201, response.get_json()
    try:
        yield Market(config, db, console, "mkt", response.get_json()["api_key"])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        db.dispose()
        remote.clear_cache()


def test_immediate_mode_enrolls_on_payment_and_revokes_on_refund(market: Market) -> None:
    member = market.member()
    order = market.buy(member, "CPE-110", "CME-W05")
    assert market.enrolled(member) == []  # queued in the outbox, not yet sent

    market.advance(seconds=1)
    assert market.enrolled(member) == ["CME-W05", "CPE-110"]

    market.refund(order["number"], "CPE-110")
    market.advance(seconds=1)
    assert market.enrolled(member) == ["CME-W05"]
    assert market.outbox_states() == {"delivered": 2}


def test_the_lms_verifies_signatures_and_applies_a_webhook_id_once(market: Market) -> None:
    member = market.member()
    url, secret = market.purchase_endpoint()
    body = json.dumps(
        {
            "type": "order.paid",
            "order": "O-X",
            "members": [{"member_id": member, "entitlements": ["ETH-101"]}],
        }
    ).encode()
    forged = {
        **sign_headers("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "msg-1", body),
        "Content-Type": "application/json",
    }
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    assert market.enrolled(member) == []

    headers = {**sign_headers(secret, "msg-1", body), "Content-Type": "application/json"}
    first = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["result"] == "applied"
    revoke = json.dumps(
        {"type": "order.refunded", "order": "O-X", "members": [{"member_id": member, "entitlements": []}]}
    ).encode()
    assert (
        httpx.post(url, content=revoke, headers={**sign_headers(secret, "msg-2", revoke)}).status_code == 200
    )
    replay = httpx.post(url, content=body, headers={**sign_headers(secret, "msg-1", body)})
    assert replay.json()["result"] == "duplicate"
    assert market.enrolled(member) == []


def test_next_sign_on_sends_no_webhook_and_reconciles_at_each_login(market: Market) -> None:
    market.patch_settings({"purchase_sync": "next_sign_on"})
    member = market.member()
    order = market.buy(member, "ETH-101")
    market.advance(seconds=1)
    assert market.enrolled(member) == [] and market.outbox_states() == {}

    market.sign_in()
    assert market.enrolled(member) == ["ETH-101"]

    market.refund(order["number"])
    assert market.enrolled(member) == ["ETH-101"]  # the LMS learns it at the next sign-on
    market.sign_in()
    assert market.enrolled(member) == []


def test_enrollments_made_another_way_are_never_revoked_by_a_purchase_sync(market: Market) -> None:
    market.patch_settings({"purchase_sync": "next_sign_on"})
    member = market.member()
    with market.lms() as lms:
        assert (
            lms.post("/api/enrollments", json={"member_id": member, "course_code": "CEU-W10"}).status_code
            == 201
        )
    market.sign_in()
    assert market.enrolled(member) == ["CEU-W10"]


@pytest.mark.parametrize("mode", ["immediate", "next_sign_on"])
def test_both_modes_reach_the_same_enrollments_after_a_login(market: Market, mode: str) -> None:
    market.patch_settings({"purchase_sync": mode})
    member = market.member()
    order = market.buy(member, "CPE-110", "BUNDLE-CLE")
    market.buy(member, "CEU-100", payment={"po_number": "PO-55"})  # invoiced, not paid: no access
    market.refund(order["number"], "CPE-110")
    market.advance(seconds=1)

    me = market.sign_in()

    assert me["member_id"] == member
    assert market.enrolled(member) == ["CLE-204", "CLE-310", "ETH-101"]


def test_an_older_entitlement_set_arriving_late_changes_nothing(market: Market) -> None:
    member = market.member()
    url, secret = market.purchase_endpoint()

    def send(message_id: str, codes: list[str], version: int) -> dict[str, Any]:
        members = [{"member_id": member, "entitlements": codes, "version": version}]
        body = json.dumps({"type": "order.paid", "order": "O-Y", "members": members}).encode()
        return httpx.post(url, content=body, headers=sign_headers(secret, message_id, body)).json()

    assert send("refund", [], 2_000)["changes"][member]["stale"] is False
    late = send("paid", ["ETH-101"], 1_000)
    assert late["result"] == "applied" and late["changes"][member]["stale"] is True
    assert market.enrolled(member) == []
