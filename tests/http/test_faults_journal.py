"""Fault injection and the request journal, seen through HTTP: the control API, the AMS and the LMS.

Every test here runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from simulator.core import faults
from simulator.core.db import Database
from simulator.core.faults import MAX_RULES, ConnectionResetFault, FaultRuleSpec
from simulator.core.journal import trim_interval
from tests.conftest import TenantHandle


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def acme(make_tenant: Any) -> TenantHandle:
    return make_tenant("acme")


def put_faults(console: Any, tenant: TenantHandle, *rules: dict[str, Any]) -> list[dict[str, Any]]:
    response = console.put(
        f"/api/tenants/{tenant.id}/faults", json={"rules": list(rules)}, headers=tenant.auth
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["rules"]


def list_faults(console: Any, tenant: TenantHandle) -> list[dict[str, Any]]:
    response = console.get(f"/api/tenants/{tenant.id}/faults", headers=tenant.auth)
    assert response.status_code == 200
    return response.get_json()["rules"]


def read_journal(console: Any, tenant: TenantHandle, **params: Any) -> dict[str, Any]:
    response = console.get(f"/api/tenants/{tenant.id}/journal", query_string=params, headers=tenant.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def statuses(client: Any, path: str, count: int) -> list[int]:
    return [client.get(path).status_code for _ in range(count)]


# --- effects -------------------------------------------------------------------------------------------


def test_status_body_and_retry_after(console: Any, ams: Any, acme: TenantHandle) -> None:
    put_faults(
        console,
        acme,
        {"app": "ams", "path": "/api/members*", "status": 503, "body": '{"error": "down"}', "retry_after": 7},
    )

    faulted = ams.get("/t/acme/api/members?page=2")
    untouched = ams.get("/t/acme/elsewhere")

    assert faulted.status_code == 503
    assert faulted.get_json() == {"error": "down"}
    assert faulted.headers["Retry-After"] == "7"
    assert faulted.headers["Content-Type"] == "application/json"
    assert untouched.status_code == 404


def test_fixed_delay_then_respond_and_delay_then_pass_through(
    console: Any, lms: Any, acme: TenantHandle
) -> None:
    put_faults(
        console,
        acme,
        {"path": "/slow-error", "delay": {"fixed_ms": 300}, "status": 504},
        {"path": "/slow", "delay": {"fixed_ms": 300}},
    )

    started = time.monotonic()
    slow_error = lms.get("/t/acme/slow-error")
    slow = lms.get("/t/acme/slow")
    elapsed = time.monotonic() - started

    assert slow_error.status_code == 504
    assert slow.status_code == 404  # the LMS's own answer, after the delay
    assert elapsed >= 0.6
    entries = read_journal(console, acme)["entries"]
    assert [e["fault"]["delay_ms"] for e in entries] == [300.0, 300.0]
    assert entries[1]["fault"]["effect"] == "delay 300 ms, then pass through"


def test_lognormal_delay_is_reproducible_for_a_seed(console: Any, lms: Any, acme: TenantHandle) -> None:
    rule = {"path": "/jitter", "delay": {"lognormal": {"median_ms": 2, "sigma": 1.0}}, "seed": 11}

    def run() -> list[float]:
        put_faults(console, acme, rule)
        console.delete("/api/tenants/acme/journal", headers=acme.auth)
        for _ in range(6):
            lms.get("/t/acme/jitter")
        return [e["fault"]["delay_ms"] for e in read_journal(console, acme)["entries"]]

    first, second = run(), run()

    spec = FaultRuleSpec.model_validate(rule)
    expected = [round(faults.draw(spec, 0, n)[1], 3) for n in range(1, 7)]
    assert first == second == expected
    assert len(set(first)) == 6


def test_connection_reset_over_a_real_socket(console: Any, ams: Any, acme: TenantHandle) -> None:
    put_faults(console, acme, {"app": "ams", "path": "/api/*", "kind": "connection_reset", "name": "rst"})
    server = make_server("127.0.0.1", 0, ams.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(httpx.ReadError) as error:
            httpx.get(f"{base}/t/acme/api/members", timeout=5)
        assert "reset" in str(error.value).lower()
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    finally:
        server.shutdown()
        thread.join(timeout=5)

    [entry] = read_journal(console, acme)["entries"]
    assert entry["status"] is None
    assert entry["fault"]["name"] == "rst"
    assert entry["fault"]["effect"] == "connection reset"


def test_connection_reset_without_a_socket_raises_and_is_journaled(
    console: Any, lms: Any, acme: TenantHandle
) -> None:
    [rule] = put_faults(console, acme, {"kind": "connection_reset"})

    with pytest.raises(ConnectionResetFault):
        lms.get("/t/acme/anything")

    [entry] = read_journal(console, acme)["entries"]
    assert entry["status"] is None
    assert entry["fault"]["rule_id"] == rule["id"]


def test_empty_and_malformed_bodies(console: Any, lms: Any, acme: TenantHandle) -> None:
    put_faults(
        console,
        acme,
        {"path": "/empty", "kind": "empty_body"},
        {"path": "/garbled", "kind": "malformed_body", "status": 502},
    )

    empty = lms.get("/t/acme/empty")
    garbled = lms.get("/t/acme/garbled")

    assert (empty.status_code, empty.data) == (200, b"")
    assert garbled.status_code == 502
    assert garbled.mimetype == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(garbled.data)


# --- how often -----------------------------------------------------------------------------------------


def test_probability_with_a_seed_is_reproducible(console: Any, lms: Any, acme: TenantHandle) -> None:
    rule = {"status": 503, "probability": 0.3, "seed": 42}

    def run() -> list[int]:
        put_faults(console, acme, rule)
        return [i for i, status in enumerate(statuses(lms, "/t/acme/x", 200)) if status == 503]

    first, second = run(), run()

    assert first == second
    assert 40 <= len(first) <= 80
    assert list_faults(console, acme)[0]["fired_count"] == len(first)


def test_first_n_every_nth_and_until_cleared(console: Any, lms: Any, acme: TenantHandle) -> None:
    put_faults(
        console,
        acme,
        {"path": "/first", "status": 500, "first_n": 3},
        {"path": "/nth", "status": 500, "every_nth": 3},
        {"path": "/always", "status": 500},
    )

    assert statuses(lms, "/t/acme/first", 6) == [500, 500, 500, 404, 404, 404]
    assert statuses(lms, "/t/acme/nth", 9) == [404, 404, 500, 404, 404, 500, 404, 404, 500]
    assert statuses(lms, "/t/acme/always", 5) == [500] * 5
    counters = [(r["matched_count"], r["fired_count"]) for r in list_faults(console, acme)]
    assert counters == [(6, 3), (9, 3), (5, 5)]

    assert console.delete("/api/tenants/acme/faults", headers=acme.auth).status_code == 204
    assert statuses(lms, "/t/acme/always", 2) == [404, 404]
    assert list_faults(console, acme) == []


def test_delete_one_rule(console: Any, lms: Any, acme: TenantHandle) -> None:
    first, second = put_faults(console, acme, {"status": 500, "path": "/a"}, {"status": 502, "path": "/b"})

    assert console.delete(f"/api/tenants/acme/faults/{first['id']}", headers=acme.auth).status_code == 204
    missing = console.delete(f"/api/tenants/acme/faults/{first['id']}", headers=acme.auth)

    assert missing.status_code == 404
    assert missing.get_json()["code"] == "fault_rule_not_found"
    assert [r["id"] for r in list_faults(console, acme)] == [second["id"]]
    assert (lms.get("/t/acme/a").status_code, lms.get("/t/acme/b").status_code) == (404, 502)


def test_append_adds_after_existing_rules(console: Any, lms: Any, acme: TenantHandle) -> None:
    put_faults(console, acme, {"status": 500, "first_n": 1})
    response = console.post("/api/tenants/acme/faults", json={"status": 503}, headers=acme.auth)

    assert response.status_code == 201
    assert response.get_json()["position"] == 1
    assert response.get_json()["rule"]["status"] == 503
    assert statuses(lms, "/t/acme/x", 3) == [500, 503, 503]  # first rule that matches and fires wins


def test_adding_one_rule_at_a_time_stops_at_the_same_bound_as_a_replace(
    console: Any, lms: Any, acme: TenantHandle
) -> None:
    put_faults(console, acme, *[{"status": 500, "path": f"/rule-{n}"} for n in range(MAX_RULES)])
    response = console.post("/api/tenants/acme/faults", json={"status": 503}, headers=acme.auth)

    assert response.status_code == 409
    assert response.get_json()["code"] == "too_many_fault_rules"
    assert len(list_faults(console, acme)) == MAX_RULES
    assert lms.get("/t/acme/x").status_code == 404  # the refused rule changed nothing


# --- matching and isolation ----------------------------------------------------------------------------


def test_rules_match_on_app_method_and_path(console: Any, ams: Any, lms: Any, acme: TenantHandle) -> None:
    put_faults(console, acme, {"app": "lms", "method": "post", "path": "/api/v?/records*", "status": 429})

    assert lms.post("/t/acme/api/v1/records/9").status_code == 429
    assert lms.get("/t/acme/api/v1/records/9").status_code == 404
    assert lms.post("/t/acme/api/v10/records").status_code == 404
    assert ams.post("/t/acme/api/v1/records").status_code != 429
    assert lms.get("/healthz").status_code == 200


def test_rules_of_one_tenant_never_affect_another(
    console: Any, lms: Any, acme: TenantHandle, make_tenant: Any
) -> None:
    other = make_tenant("other")
    put_faults(console, acme, {"status": 500})

    assert lms.get("/t/other/x").status_code == 404
    assert lms.get("/t/acme/x").status_code == 500
    assert list_faults(console, other) == []
    assert console.get("/api/tenants/acme/faults", headers=other.auth).status_code == 404
    denied = console.put("/api/tenants/acme/faults", json={"rules": []}, headers=other.auth)
    assert denied.status_code == 404


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"status": 99}, "rules.1.status"),
        ({"status": 500, "probability": 1.5}, "rules.1.probability"),
        ({"status": 500, "colour": "red"}, "rules.1.colour"),
        ({"delay": {"fixed_ms": 100, "extra": 1}}, "rules.1.delay"),
        ({"status": 500, "first_n": 2, "every_nth": 3}, "rules.1"),
    ],
)
def test_invalid_rule_is_refused_and_changes_nothing(
    console: Any, acme: TenantHandle, rule: dict[str, Any], field: str
) -> None:
    before = put_faults(console, acme, {"status": 500, "name": "keep me"})

    response = console.put(
        "/api/tenants/acme/faults", json={"rules": [{"status": 503}, rule]}, headers=acme.auth
    )

    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "validation_failed"
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    assert list_faults(console, acme) == before


def test_rule_without_effect_is_refused(console: Any, acme: TenantHandle) -> None:
    response = console.post("/api/tenants/acme/faults", json={"path": "/x"}, headers=acme.auth)

    assert response.status_code == 422
    assert "effect" in response.get_json()["detail"]


# --- journal -------------------------------------------------------------------------------------------


def test_every_tenant_request_is_journaled(
    console: Any, ams: Any, lms: Any, acme: TenantHandle, make_tenant: Any
) -> None:
    ams.get("/t/acme/api/members?page=2")
    lms.post(
        "/t/acme/sso/acs", data="RelayState=%2Fcourses", content_type="application/x-www-form-urlencoded"
    )
    ams.get("/healthz")
    lms.get("/t/nobody/x")

    entries = read_journal(console, acme)["entries"]

    assert [(e["app"], e["method"], e["path"], e["status"]) for e in entries] == [
        ("ams", "GET", "/t/acme/api/members", 401),
        ("lms", "POST", "/t/acme/sso/acs", 404),
    ]
    assert entries[0]["query"] == "page=2"
    assert entries[1]["request_body"] == "RelayState=%2Fcourses"
    assert entries[0]["response_headers"]["Content-Type"] == "application/problem+json"
    assert entries[0]["response_body"].startswith("{")
    assert all(e["latency_ms"] > 0 and e["fault"] is None for e in entries)
    assert entries[0]["remote_addr"] == "127.0.0.1"


def test_the_fault_that_fired_is_journaled(console: Any, lms: Any, acme: TenantHandle) -> None:
    [rule] = put_faults(console, acme, {"name": "inbox down", "path": "/inbox", "status": 503})

    lms.get("/t/acme/inbox")
    lms.get("/t/acme/outbox")

    faulted, clean = read_journal(console, acme)["entries"]
    assert faulted["status"] == 503
    assert faulted["fault"]["rule_id"] == rule["id"]
    assert faulted["fault"]["name"] == "inbox down"
    assert faulted["fault"]["effect"] == "status 503"
    assert clean["fault"] is None


def test_journal_keeps_only_the_newest_entries(
    console: Any, lms: Any, acme: TenantHandle, db: Database
) -> None:
    patched = console.patch(
        "/api/tenants/acme/settings", json={"journal": {"max_entries": 10}}, headers=acme.auth
    )
    assert patched.status_code == 200

    for index in range(25):
        lms.get(f"/t/acme/page/{index}")

    entries = read_journal(console, acme, limit=1000)["entries"]
    assert [e["path"] for e in entries] == [f"/t/acme/page/{i}" for i in range(15, 25)]
    with db.read() as session:
        stored = session.execute(text("SELECT count(*) FROM journal_entries WHERE tenant_id = 'acme'"))
        assert stored.scalar_one() == 10


def test_a_larger_journal_is_trimmed_in_steps_and_stays_bounded(
    console: Any, lms: Any, acme: TenantHandle, db: Database
) -> None:
    patched = console.patch(
        "/api/tenants/acme/settings", json={"journal": {"max_entries": 100}}, headers=acme.auth
    )
    assert patched.status_code == 200
    slack = trim_interval(100) - 1

    for index in range(130):
        lms.get(f"/t/acme/page/{index}")

    with db.read() as session:
        stored = session.execute(text("SELECT count(*) FROM journal_entries WHERE tenant_id = 'acme'"))
        count = stored.scalar_one()
    entries = read_journal(console, acme, limit=1000)["entries"]
    assert slack >= 1
    assert 100 <= count <= 100 + slack
    assert [e["path"] for e in entries][-100:] == [f"/t/acme/page/{i}" for i in range(30, 130)]


def test_secrets_never_reach_the_journal(console: Any, ams: Any, acme: TenantHandle, db: Database) -> None:
    ams.post(
        "/t/acme/api/login?token=tok-very-secret-123&keep=visible",
        headers={"Authorization": "Bearer sk-live-very-secret", "Cookie": "session=cookie-secret"},
        json={"email": "ann@example.org", "password": "hunter2-secret", "card": "4242 4242 4242 4242"},
    )

    [entry] = read_journal(console, acme)["entries"]
    assert entry["request_headers"]["Authorization"] == "Bearer [redacted]"
    assert entry["query"] == "token=[redacted]&keep=visible"
    assert json.loads(entry["request_body"]) == {
        "email": "ann@example.org",
        "password": "[redacted]",
        "card": "[card redacted]",
    }
    with db.read() as session:
        rows = session.execute(text("SELECT * FROM journal_entries")).all()
    raw = " ".join(str(value) for row in rows for value in row)
    for secret in ("sk-live-very-secret", "cookie-secret", "hunter2-secret", "tok-very-secret", "4242"):
        assert secret not in raw


def test_journal_bodies_are_truncated(console: Any, lms: Any, acme: TenantHandle) -> None:
    lms.post("/t/acme/upload", data="x" * 10_000, content_type="text/plain")

    [entry] = read_journal(console, acme)["entries"]
    assert entry["request_body"] == "x" * 4096


def test_journal_filters(console: Any, ams: Any, lms: Any, acme: TenantHandle) -> None:
    put_faults(console, acme, {"path": "/broken", "status": 500})
    ams.get("/t/acme/api/members")
    lms.get("/t/acme/courses/1")
    lms.post("/t/acme/courses/2")
    lms.get("/t/acme/broken")

    def paths(**params: Any) -> list[str]:
        return [e["path"] for e in read_journal(console, acme, **params)["entries"]]

    assert paths(app="ams") == ["/t/acme/api/members"]
    assert paths(path="/courses/*") == ["/t/acme/courses/1", "/t/acme/courses/2"]
    assert paths(path="*/2") == ["/t/acme/courses/2"]
    assert paths(status=500) == ["/t/acme/broken"]
    assert paths(method="post") == ["/t/acme/courses/2"]
    page = read_journal(console, acme, limit=2)
    assert [e["path"] for e in page["entries"]] == ["/t/acme/api/members", "/t/acme/courses/1"]
    rest = read_journal(console, acme, since=page["next_since"])
    assert [e["path"] for e in rest["entries"]] == ["/t/acme/courses/2", "/t/acme/broken"]
    assert read_journal(console, acme, since=rest["next_since"]) == {
        "entries": [],
        "next_since": rest["next_since"],
    }
    bad = console.get("/api/tenants/acme/journal?limit=5000", headers=acme.auth)
    assert bad.status_code == 422


def test_clear_journal_and_tenant_isolation(
    console: Any, lms: Any, acme: TenantHandle, make_tenant: Any
) -> None:
    other = make_tenant("other")
    lms.get("/t/acme/x")
    lms.get("/t/other/y")

    assert console.get("/api/tenants/acme/journal", headers=other.auth).status_code == 404
    assert console.delete("/api/tenants/acme/journal", headers=other.auth).status_code == 404
    assert [e["path"] for e in read_journal(console, other)["entries"]] == ["/t/other/y"]

    assert console.delete("/api/tenants/acme/journal", headers=acme.auth).status_code == 204
    assert read_journal(console, acme)["entries"] == []
    assert len(read_journal(console, other)["entries"]) == 1


def test_a_failing_journal_never_breaks_the_request(
    lms: Any, acme: TenantHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("simulator.core.middleware.record_request", broken)

    assert lms.get("/t/acme/x").status_code == 404
    assert "could not journal" in caplog.text


def test_openapi_documents_faults_and_journal(console: Any) -> None:
    paths = console.get("/openapi.json").get_json()["paths"]

    assert {"get", "put", "post", "delete"} <= set(paths["/api/tenants/{tenant}/faults"])
    assert "delete" in paths["/api/tenants/{tenant}/faults/{rule_id}"]
    parameters = {p["name"] for p in paths["/api/tenants/{tenant}/journal"]["get"]["parameters"]}
    assert {"since", "app", "path", "status", "method", "limit"} <= parameters


# --- windows of business time -----------------------------------------------------------------------


def test_a_rule_for_an_hour_ends_when_the_business_clock_passes_it(
    console: Any, ams: Any, make_tenant: Any
) -> None:
    tenant = make_tenant("windowed", clock_start="2026-03-02T09:00:00Z")
    added = console.post(
        "/api/tenants/windowed/faults",
        json={"name": "AMS down", "app": "ams", "path": "/api/members*", "status": 503, "for": "1 hour"},
        headers=tenant.auth,
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["rule"]["active_until"] == "2026-03-02T10:00:00Z"
    assert added.get_json()["rule"]["for"] == 3600

    assert statuses(ams, "/t/windowed/api/members", 2) == [503, 503]
    advance = console.post("/api/tenants/windowed/clock/advance", json={"minutes": 61}, headers=tenant.auth)
    assert advance.status_code == 200
    assert ams.get("/t/windowed/api/members", headers=tenant.auth).status_code == 200
    assert list_faults(console, tenant)[0]["fired_count"] == 2

    bad = console.post(
        "/api/tenants/windowed/faults", json={"status": 503, "for": "a while"}, headers=tenant.auth
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "for"
