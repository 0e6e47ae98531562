"""The LMS SP forgets expired SAML one-time values as due work, by wall-clock time (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.jobs import run_due_jobs
from simulator.lms.sso.models import PendingAuthnRequest, SeenAssertion
from simulator.lms.sso.saml.expiry import PURGE_WORK
from tests.conftest import ADMIN


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def _remember(db: Database, tenant_id: str, name: str, expires_at: dt.datetime) -> None:
    with db.session() as session:
        session.add(PendingAuthnRequest(tenant_id=tenant_id, request_id=name, expires_at=expires_at))
        session.add(SeenAssertion(tenant_id=tenant_id, assertion_id=name, expires_at=expires_at))


def _kept(db: Database) -> dict[str, list[tuple[str, str]]]:
    with db.read() as session:
        requests = session.execute(select(PendingAuthnRequest.tenant_id, PendingAuthnRequest.request_id))
        assertions = session.execute(select(SeenAssertion.tenant_id, SeenAssertion.assertion_id))
        return {"requests": sorted(map(tuple, requests)), "assertions": sorted(map(tuple, assertions))}


def test_expired_requests_and_assertions_are_purged_per_tenant(db: Database, make_tenant: Any) -> None:
    make_tenant("acme")
    make_tenant("other")
    now = wall_now()
    _remember(db, "acme", "expired", now - dt.timedelta(seconds=5))
    _remember(db, "acme", "live", now + dt.timedelta(minutes=5))
    _remember(db, "other", "expired", now - dt.timedelta(seconds=5))

    ran = [summary for summary in run_due_jobs(db, "acme") if summary["kind"] == PURGE_WORK]

    assert [summary["result"] for summary in ran] == [{"requests": 1, "assertions": 1}]
    kept = [("acme", "live"), ("other", "expired")]  # the other tenant's are its own due work
    assert _kept(db) == {"requests": kept, "assertions": kept}


def test_a_clock_advance_does_not_forget_a_live_assertion(
    db: Database, make_tenant: Any, console: Any
) -> None:
    make_tenant("acme")
    _remember(db, "acme", "live", wall_now() + dt.timedelta(minutes=5))

    advanced = console.post("/api/tenants/acme/clock/advance", json={"days": 1}, headers=ADMIN)

    assert advanced.status_code == 200, advanced.get_json()
    assert _kept(db) == {"requests": [("acme", "live")], "assertions": [("acme", "live")]}
