"""`/api/processes` of a console that no `sandbox up` started: a plain 409, and admin-only."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN


def test_a_console_without_a_supervisor_says_so(console: Any, make_tenant: Any) -> None:
    listed = console.get("/api/processes", headers=ADMIN)
    assert listed.status_code == 409
    assert listed.content_type == "application/problem+json"
    assert listed.get_json()["code"] == "no_supervisor"
    assert "not started by `sandbox up`" in listed.get_json()["detail"]
    assert (
        console.post("/api/processes/worker/kill", json={}, headers=ADMIN).get_json()["code"]
        == "no_supervisor"
    )


def test_only_the_admin_key_may_see_or_steer_processes(console: Any, make_tenant: Any) -> None:
    tenant = make_tenant("acme")
    assert console.get("/api/processes", headers=tenant.auth).status_code == 403
    assert console.post("/api/processes/ams/pause", json={}, headers=tenant.auth).status_code == 403
    assert console.get("/api/processes").status_code == 401
    assert console.post("/api/processes/ams/kill", json={"signal": "HUP"}, headers=ADMIN).status_code == 422
