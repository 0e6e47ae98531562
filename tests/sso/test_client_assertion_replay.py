"""``private_key_jwt`` replay protection lives in the database: a used ``jti`` is refused in every process.

Each test runs on SQLite and on PostgreSQL. The race is played by threads that each open their own
:class:`Database` (their own connections, as separate processes would have).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from simulator.ams.idp.models import OidcClientAssertion
from simulator.ams.idp.oidc.assertions import LATEST_KEPT, PURGE_WORK, record_assertion
from simulator.core.db import Database
from simulator.core.jobs import run_due_jobs
from tests.conftest import ADMIN
from tests.sso.client_assertions import AssertingClient, assertion_fields
from tests.sso.test_idp_oidc import ISSUER, REDIRECT, authorize, code_from, register_client

pytest_plugins = ["tests.sso.idp_fixtures"]

TOKEN_ENDPOINT = f"{ISSUER}/oidc/token"
RACERS = 8


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def redeem_a_code(browser: httpx.Client, client_id: str, assertion: str) -> httpx.Response:
    """Sign in at the authorize endpoint and redeem the code, authenticating with ``assertion``."""
    response = authorize(browser, client_id)
    return browser.post(
        "/t/acme/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code_from(response),
            "redirect_uri": REDIRECT,
            "code_verifier": response.extensions["code_verifier"],
            **assertion_fields(client_id, assertion),
        },
    )


def used_assertions(db: Database) -> list[OidcClientAssertion]:
    with db.read() as session:
        return list(session.scalars(select(OidcClientAssertion).order_by(OidcClientAssertion.pk)))


def test_a_client_assertion_authenticates_once(browser: httpx.Client, console: Any, db: Database) -> None:
    rp = AssertingClient()
    client = register_client(console, token_endpoint_auth_method="private_key_jwt", jwks=rp.jwks)
    assertion = rp.assertion(client["client_id"], TOKEN_ENDPOINT)

    first = redeem_a_code(browser, client["client_id"], assertion)
    replayed = redeem_a_code(browser, client["client_id"], assertion)
    fresh = redeem_a_code(browser, client["client_id"], rp.assertion(client["client_id"], TOKEN_ENDPOINT))

    assert first.status_code == 200, first.text
    assert replayed.status_code == 400  # RFC 6749 §5.2: 401 is for HTTP authentication schemes
    assert replayed.json()["error"] == "invalid_client"
    assert "used before" in replayed.json()["error_description"]
    assert fresh.status_code == 200, fresh.text
    stored = used_assertions(db)
    assert [row.client_id for row in stored] == [client["client_id"]] * 2
    assert all(row.expires_at.timestamp() > time.time() + 60 for row in stored)  # exp plus the leeway


def test_of_processes_racing_with_one_jti_exactly_one_wins(db_url: str, db: Database, tenant: Any) -> None:
    start = threading.Barrier(RACERS)

    def race(_: int) -> bool:
        own = Database(db_url)
        try:
            start.wait(timeout=10)
            return record_assertion(own, "acme", "rp-1", "the-jti", time.time() + 60)
        finally:
            own.dispose()

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(race, range(RACERS)))

    assert outcomes.count(True) == 1
    assert len(used_assertions(db)) == 1


def test_a_jti_belongs_to_its_client_and_tenant(db: Database, tenant: Any, make_tenant: Any) -> None:
    make_tenant("other")
    until = time.time() + 60

    assert record_assertion(db, "acme", "rp-1", "shared-jti", until)
    assert record_assertion(db, "acme", "rp-2", "shared-jti", until)
    assert record_assertion(db, "other", "rp-1", "shared-jti", until)
    assert not record_assertion(db, "acme", "rp-1", "shared-jti", until)


def test_expired_assertions_are_purged_as_due_work(db: Database, tenant: Any) -> None:
    assert record_assertion(db, "acme", "rp-1", "expired", time.time() - 5)
    assert record_assertion(db, "acme", "rp-1", "live", time.time() + 300)

    ran = [summary for summary in run_due_jobs(db, "acme") if summary["kind"] == PURGE_WORK]

    assert [summary["result"] for summary in ran] == [{"purged": 1}]
    assert not record_assertion(db, "acme", "rp-1", "live", time.time() + 300)
    assert record_assertion(db, "acme", "rp-1", "expired", time.time() + 300)  # forgotten: its time is up


def test_a_clock_advance_does_not_forget_a_live_assertion(console: Any, db: Database, tenant: Any) -> None:
    assert record_assertion(db, "acme", "rp-1", "live", time.time() + 300)

    advanced = console.post("/api/tenants/acme/clock/advance", json={"days": 1}, headers=ADMIN)

    assert advanced.status_code == 200, advanced.get_json()
    assert not record_assertion(db, "acme", "rp-1", "live", time.time() + 300)


def test_an_expiry_beyond_any_date_is_kept_for_good(db: Database, tenant: Any) -> None:
    assert record_assertion(db, "acme", "rp-1", "forever", 10**400)

    assert not record_assertion(db, "acme", "rp-1", "forever", time.time() + 60)
    assert [row.expires_at for row in used_assertions(db)] == [LATEST_KEPT]
