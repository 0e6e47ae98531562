"""Wrong API keys lock their client out in every app process; revoked and rotated keys change at once.

Two ``create_app`` instances, each with its own engine on one database, stand for two processes (or
hosts): nothing a process keeps in memory may decide who gets in.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from simulator.config import SandboxConfig
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.jobs import run_all_due_jobs
from simulator.core.key_attempts import PURGE_WORK
from simulator.core.models import FailedKeyAttempt
from tests.conftest import ADMIN, ADMIN_KEY, TenantHandle, bearer, make_config
from tests.console_ui.conftest import UiSession, text_of

LIMIT = 3
GUESSER = "203.0.113.7"
BYSTANDER = "198.51.100.2"
PROBLEM = "application/problem+json"
WRONG_KEY = "sbx_acme_" + "n0tTheRealKeyJustAGuess" * 2


@dataclass
class Sandbox:
    """Two console instances and an AMS instance, each with its own engine, on one database."""

    db: Database
    console_apps: tuple[Any, Any]
    ams_app: Any

    def console(self, instance: int, address: str = GUESSER) -> Any:
        return _client(self.console_apps[instance], address)

    def ams(self, address: str = GUESSER) -> Any:
        return _client(self.ams_app, address)

    def make_tenant(self, tenant_id: str = "acme") -> TenantHandle:
        created = self.console(0, BYSTANDER).post("/api/tenants", json={"id": tenant_id}, headers=ADMIN)
        assert created.status_code == 201, created.get_json()
        return TenantHandle(tenant_id, created.get_json()["api_key"])

    def counting_attempts(self) -> int:
        with self.db.read() as session:
            return session.scalar(
                select(func.count())
                .select_from(FailedKeyAttempt)
                .where(FailedKeyAttempt.expires_at > wall_now())
            )

    def let_the_window_pass(self) -> None:
        with self.db.session() as session:
            session.execute(update(FailedKeyAttempt).values(expires_at=wall_now() - dt.timedelta(seconds=1)))


def _client(app: Any, address: str) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _build(config: SandboxConfig) -> Iterator[Sandbox]:
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console

    databases = [Database(config.resolved_database_url) for _ in range(4)]
    databases[0].upgrade()
    try:
        yield Sandbox(
            db=databases[0],
            console_apps=(create_console(config, databases[1]), create_console(config, databases[2])),
            ams_app=create_ams(config, databases[3]),
        )
    finally:
        for database in databases:
            database.dispose()


@pytest.fixture
def sandbox(tmp_path: Path, any_db_url: str) -> Iterator[Sandbox]:
    """Locks a client out after ``LIMIT`` wrong keys, on SQLite and on PostgreSQL."""
    yield from _build(make_config(tmp_path, any_db_url, key_attempt_limit=LIMIT))


@pytest.fixture
def default_sandbox(tmp_path: Path, any_db_url: str) -> Iterator[Sandbox]:
    """The default limit (10 wrong keys a minute)."""
    yield from _build(make_config(tmp_path, any_db_url))


def assert_locked_out(response: Any) -> int:
    """The response is the lockout's 429; returns its Retry-After (seconds)."""
    assert response.status_code == 429, response.get_json()
    assert response.content_type == PROBLEM
    problem = response.get_json()
    assert problem["code"] == "too_many_failed_keys"
    assert problem["detail"].startswith("Too many wrong API keys came from your address: try again in ")
    assert problem["detail"].count(".") == 1 and problem["detail"].endswith(" seconds.")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_wrong_keys_up_to_the_limit_get_401_then_every_key_from_that_client_gets_429(
    sandbox: Sandbox,
) -> None:
    console = sandbox.console(0)
    for attempt in range(LIMIT):
        refused = console.get("/api/tenants", headers=bearer(f"{WRONG_KEY}{attempt}"))
        assert refused.status_code == 401
        assert refused.content_type == PROBLEM and refused.get_json()["code"] == "unauthorized"

    assert_locked_out(console.get("/api/tenants", headers=bearer(WRONG_KEY)))
    # the right key too: a lockout that let it through would tell a guesser when it guessed right
    assert_locked_out(console.get("/api/tenants", headers=ADMIN))
    assert console.get("/api/tenants").status_code == 401  # no key is no attempt: the usual 401
    assert sandbox.counting_attempts() == LIMIT  # refusals during the lockout do not extend it

    assert sandbox.console(0, BYSTANDER).get("/api/tenants", headers=ADMIN).status_code == 200


def test_requests_without_a_bearer_key_never_count(sandbox: Sandbox) -> None:
    console = sandbox.console(0)
    for headers in [{}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}] * LIMIT:
        assert console.get("/api/tenants", headers=headers).status_code == 401

    assert console.get("/api/tenants", headers=ADMIN).status_code == 200
    assert sandbox.counting_attempts() == 0


def test_wrong_keys_count_together_and_lock_the_client_out_of_every_instance(sandbox: Sandbox) -> None:
    acme = sandbox.make_tenant()
    assert sandbox.console(0).get("/api/tenants/acme", headers=bearer(WRONG_KEY)).status_code == 401
    assert sandbox.console(1).get("/api/tenants", headers=bearer(WRONG_KEY)).status_code == 401
    entitlements = sandbox.ams().get("/t/acme/api/members/M100001/entitlements", headers=bearer(WRONG_KEY))
    assert entitlements.status_code == 401

    assert_locked_out(sandbox.console(0).get("/api/tenants/acme", headers=acme.auth))
    assert_locked_out(sandbox.console(1).get("/api/tenants/acme", headers=acme.auth))
    assert_locked_out(sandbox.ams().get("/t/acme/api/members", headers=acme.auth))
    assert sandbox.ams(BYSTANDER).get("/t/acme/api/members", headers=acme.auth).status_code == 200


def test_once_the_window_has_passed_the_client_gets_in_again_and_the_worker_purges(sandbox: Sandbox) -> None:
    acme = sandbox.make_tenant()
    console = sandbox.console(1)
    for _ in range(LIMIT):
        console.get("/api/tenants", headers=bearer(WRONG_KEY))
    assert_locked_out(console.get("/api/tenants", headers=ADMIN))

    sandbox.let_the_window_pass()

    assert console.get("/api/tenants", headers=ADMIN).status_code == 200
    assert sandbox.ams().get("/t/acme/api/members", headers=acme.auth).status_code == 200
    assert console.get("/api/tenants", headers=bearer(WRONG_KEY)).status_code == 401  # counts anew
    assert sandbox.counting_attempts() == 1
    run_all_due_jobs(sandbox.db)  # one worker pass
    with sandbox.db.read() as session:
        assert session.scalar(select(func.count()).select_from(FailedKeyAttempt)) == 1  # only the live one


def test_a_clock_advance_purges_too_but_reports_no_other_clients_attempts(sandbox: Sandbox) -> None:
    acme = sandbox.make_tenant()
    for _ in range(LIMIT):
        sandbox.console(0).get("/api/tenants", headers=bearer(WRONG_KEY))
    sandbox.let_the_window_pass()

    advanced = sandbox.console(0, BYSTANDER).post(
        "/api/tenants/acme/clock/advance", json={"seconds": 1}, headers=acme.auth
    )

    assert advanced.status_code == 200
    assert PURGE_WORK not in {job.get("kind") for job in advanced.get_json()["jobs_run"]}
    with sandbox.db.read() as session:
        assert session.scalar(select(func.count()).select_from(FailedKeyAttempt)) == 0


def test_refused_keys_are_journaled_under_the_urls_tenant_by_fingerprint_never_the_key(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    acme = sandbox.make_tenant()
    caplog.set_level(logging.WARNING, logger="simulator.core.key_attempts")
    on_console = sandbox.console(0).get("/api/tenants/acme/settings", headers=bearer(WRONG_KEY))
    on_ams = sandbox.ams().get("/t/acme/api/members?limit=2", headers=bearer(WRONG_KEY))
    without_tenant = sandbox.console(1).get("/api/tenants", headers=bearer(WRONG_KEY))
    locked = sandbox.console(1).get("/api/tenants/acme/clock", headers=bearer(WRONG_KEY))
    assert [r.status_code for r in (on_console, on_ams, without_tenant, locked)] == [401, 401, 401, 429]
    [named] = on_console.get_json()["errors"]
    fingerprint = named["message"].removeprefix("key ").removesuffix(" opens nothing here")
    assert named["field"] == "Authorization"
    assert fingerprint.startswith(f"sbx_acme_... ({len(WRONG_KEY)} characters, #")
    assert on_ams.get_json()["errors"] == [named]  # the same key has the same fingerprint everywhere

    journal = sandbox.console(1, BYSTANDER).get("/api/tenants/acme/journal", headers=acme.auth).get_json()
    refused = [e for e in journal["entries"] if e["status"] in (401, 429)]
    assert [(e["app"], e["method"], e["path"], e["status"]) for e in refused] == [
        ("console", "GET", "/api/tenants/acme/settings", 401),
        ("ams", "GET", "/t/acme/api/members", 401),
        ("console", "GET", "/api/tenants/acme/clock", 429),
    ]
    for entry in refused:
        assert entry["remote_addr"] == GUESSER
        assert entry["request_headers"]["Authorization"] == "Bearer [redacted]"
        assert fingerprint in entry["response_body"]
    console_only = (
        sandbox.console(1, BYSTANDER)
        .get("/api/tenants/acme/journal?app=console", headers=acme.auth)
        .get_json()["entries"]
    )
    assert [e["path"] for e in console_only] == ["/api/tenants/acme/settings", "/api/tenants/acme/clock"]

    # the key is nowhere: not in the journal, not in the log, not in any table
    assert WRONG_KEY not in json.dumps(journal)
    assert fingerprint in caplog.text and GUESSER in caplog.text and "/api/tenants" in caplog.text
    assert WRONG_KEY not in caplog.text
    with sandbox.db.read() as session:
        for table in ("journal_entries", "failed_key_attempts"):
            assert WRONG_KEY not in str(session.execute(text(f"SELECT * FROM {table}")).all())


def test_a_rotated_or_revoked_key_changes_in_every_instance_at_once(default_sandbox: Sandbox) -> None:
    sandbox = default_sandbox
    acme = sandbox.make_tenant()
    first, second = sandbox.console(0), sandbox.console(1)
    assert second.get("/api/tenants/acme", headers=acme.auth).status_code == 200  # each instance has seen it
    assert sandbox.ams().get("/t/acme/api/members", headers=acme.auth).status_code == 200

    rotated = first.post("/api/tenants/acme/api-key", headers=acme.auth)
    assert rotated.status_code == 200
    new_key = bearer(rotated.get_json()["api_key"])
    assert second.get("/api/tenants/acme", headers=acme.auth).status_code == 401
    assert sandbox.ams().get("/t/acme/api/members", headers=acme.auth).status_code == 401
    assert second.get("/api/tenants/acme", headers=new_key).status_code == 200
    assert sandbox.ams().get("/t/acme/api/members", headers=new_key).status_code == 200

    assert first.delete("/api/tenants/acme/api-key", headers=new_key).status_code == 204
    assert second.get("/api/tenants/acme", headers=new_key).status_code == 401
    assert sandbox.ams().get("/t/acme/api/members", headers=new_key).status_code == 401
    assert second.post("/api/tenants/acme/api-key", headers=new_key).status_code == 401  # only the admin now
    assert second.get("/api/tenants/acme", headers=ADMIN).status_code == 200

    reissued = second.post("/api/tenants/acme/api-key", headers=ADMIN)
    assert reissued.status_code == 200
    assert (
        sandbox.ams().get("/t/acme/api/members", headers=bearer(reissued.get_json()["api_key"])).status_code
        == 200
    )
    assert sandbox.counting_attempts() == 5  # every refused old key counted against its client


def test_revoking_another_tenants_key_is_refused_and_changes_nothing(default_sandbox: Sandbox) -> None:
    acme, bravo = default_sandbox.make_tenant("acme"), default_sandbox.make_tenant("bravo")
    console = default_sandbox.console(0)
    refused = console.delete("/api/tenants/bravo/api-key", headers=acme.auth)
    assert refused.status_code == 404 and refused.get_json()["code"] == "tenant_not_found"
    assert console.get("/api/tenants/bravo", headers=bravo.auth).status_code == 200


def test_console_sign_in_counts_wrong_keys_and_shares_the_lockout(tmp_path: Path, db_url: str) -> None:
    for sandbox in _build(make_config(tmp_path, db_url, key_attempt_limit=LIMIT)):
        browser = UiSession(sandbox.console(0))
        for _ in range(LIMIT):
            assert browser.sign_in(WRONG_KEY).status_code == 401

        locked = browser.sign_in(ADMIN_KEY)
        assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 60
        assert "Too many wrong API keys came from your address" in text_of(locked.text)
        assert ADMIN_KEY not in locked.text
        assert_locked_out(sandbox.console(1).get("/api/tenants", headers=ADMIN))
        assert UiSession(sandbox.console(0, BYSTANDER)).sign_in(ADMIN_KEY).status_code == 303


def test_a_limit_of_zero_turns_the_lockout_off(tmp_path: Path, db_url: str) -> None:
    for sandbox in _build(make_config(tmp_path, db_url, key_attempt_limit=0)):
        console = sandbox.console(0)
        assert {console.get("/api/tenants", headers=bearer(WRONG_KEY)).status_code for _ in range(12)} == {
            401
        }
        assert console.get("/api/tenants", headers=ADMIN).status_code == 200
        assert sandbox.counting_attempts() == 0
