"""The token service registry on the control API, the seeding hook, and the token service layer itself.

The service-layer tests run on SQLite and PostgreSQL: redemption is one conditional UPDATE, so of
concurrent redemptions exactly one wins, and expiry is judged on the wall-clock time given.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from simulator.ams.idp.token import handoff
from simulator.ams.idp.token import registry as token_registry
from simulator.ams.idp.token.registry import ServiceCreate
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.tenancy import create_tenant
from tests.conftest import ADMIN

LANDING = "https://lms.example.org/sso/landing"
RETURN_URL = "https://lms.example.org/sso/return"


@pytest.fixture
def service(console: Any, make_tenant: Any) -> dict:
    make_tenant("acme")
    payload = {"name": "Test LMS", "landing_url": LANDING, "return_url_allowlist": [RETURN_URL]}
    response = console.post("/api/tenants/acme/token-services", json=payload, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_registering_a_service_answers_its_secret_once(console: Any, service: dict) -> None:
    assert service["service_id"].startswith("tks_") and len(service["service_secret"]) >= 40
    assert service["return_url_allowlist"] == [RETURN_URL]

    listed = console.get("/api/tenants/acme/token-services", headers=ADMIN).get_json()["services"]
    one = console.get(f"/api/tenants/acme/token-services/{service['service_id']}", headers=ADMIN)

    assert [s["name"] for s in listed] == ["Sandbox LMS", "Test LMS"]
    assert all(s.get("service_secret") is None for s in listed)
    assert one.status_code == 200 and one.get_json().get("service_secret") is None


def test_bad_registrations_are_refused_and_change_nothing(console: Any, service: dict) -> None:
    url = "/api/tenants/acme/token-services"
    duplicate = console.post(url, json={"name": "Test LMS", "landing_url": LANDING}, headers=ADMIN)
    fragment = console.post(url, json={"name": "X", "landing_url": LANDING + "#frag"}, headers=ADMIN)
    relative = console.post(
        url, json={"name": "Y", "landing_url": LANDING, "return_url_allowlist": ["/back"]}, headers=ADMIN
    )

    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "token_service_exists"
    assert fragment.status_code == 422 and relative.status_code == 422
    listed = console.get(url, headers=ADMIN).get_json()["services"]
    assert [s["name"] for s in listed] == ["Sandbox LMS", "Test LMS"]


def test_another_tenants_key_cannot_see_the_registry(make_tenant: Any, console: Any, service: dict) -> None:
    other = make_tenant("beta")

    response = console.get("/api/tenants/acme/token-services", headers=other.auth)

    assert response.status_code == 404


def test_seeding_registers_the_sandbox_lms_and_gives_it_the_credential(
    console: Any, make_tenant: Any
) -> None:
    make_tenant("acme")
    settings = console.get("/api/tenants/acme/settings", headers=ADMIN).get_json()
    listed = console.get("/api/tenants/acme/token-services", headers=ADMIN).get_json()["services"]

    (lms,) = listed
    assert lms["name"] == "Sandbox LMS"
    assert lms["landing_url"].endswith("/t/acme/sso/token/landing")
    assert lms["return_url_allowlist"] == [lms["landing_url"]]
    assert settings["sso"]["token_service_id"] == lms["service_id"]
    assert settings["sso"]["token_service_secret"] == "[redacted]"
    assert settings["sso"]["token_ttl_seconds"] == 60

    console.post("/api/tenants/acme/reset", headers=ADMIN)
    after = console.get("/api/tenants/acme/token-services", headers=ADMIN).get_json()["services"]
    assert [s["service_id"] for s in after] == [lms["service_id"]]


# --- the service layer on both databases ----------------------------------------------------------------


def test_of_concurrent_redemptions_exactly_one_wins(any_db_url: str) -> None:
    db = Database(any_db_url)
    db.upgrade()
    try:
        with db.session() as session:
            create_tenant(session, "race")
            data = ServiceCreate(name="LMS", landing_url=LANDING)
            service_id = token_registry.register_service(session, "race", data)["service_id"]
            service = token_registry.get_service(session, "race", service_id)
            token = handoff.issue_token(session, "race", service, "M000001", 60, "launch", None)

        def redeem() -> str:
            try:
                with db.session() as session:
                    mine = token_registry.get_service(session, "race", service_id)
                    return handoff.redeem_token(session, "race", mine, token).member_id
            except handoff.TokenRefused as refused:
                return refused.code

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = sorted(pool.map(lambda _: redeem(), range(6)))

        assert outcomes == ["M000001"] + ["used_token"] * 5
    finally:
        db.dispose()


def test_expiry_is_judged_on_the_wall_clock_given(any_db_url: str) -> None:
    db = Database(any_db_url)
    db.upgrade()
    try:
        with db.session() as session:
            create_tenant(session, "clock")
            service_id = token_registry.register_service(
                session, "clock", ServiceCreate(name="LMS", landing_url=LANDING)
            )["service_id"]
            service = token_registry.get_service(session, "clock", service_id)
            issued = wall_now()
            token = handoff.issue_token(session, "clock", service, "M000001", 30, "launch", None, now=issued)

        with db.session() as session, pytest.raises(handoff.TokenRefused) as refused:
            handoff.redeem_token(session, "clock", service, token, now=issued + dt.timedelta(seconds=30))
        assert refused.value.code == "expired_token"
        with db.session() as session:
            redeemed = handoff.redeem_token(
                session, "clock", service, token, now=issued + dt.timedelta(seconds=29)
            )
        assert redeemed.member_id == "M000001"
    finally:
        db.dispose()
