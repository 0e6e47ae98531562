"""Scenario and conformance runs in the console: the lists, a run's timeline, a conformance run's report
(the very HTML `sandbox certify --html` writes), and who may see which run."""

from __future__ import annotations

from typing import Any

from conformance.harness.reports import html_report
from tests.conftest import ADMIN
from tests.console_ui.conftest import UiSession, text_of
from tests.http.test_conformance_runs_api import report


def _scenario_result(tenant: str, ok: bool) -> dict[str, Any]:
    step = {
        "index": 1,
        "step": "expect",
        "label": "the member has a CE record",
        "line": 12,
        "ok": ok,
        "skipped": False,
        "duration_ms": 12.5,
        "observed": {"records": 0 if not ok else 1},
        "error": None if ok else "expected 1 record, found 0",
    }
    setup = {
        "index": 0,
        "step": "setup",
        "label": "tenant and actors",
        "line": 1,
        "ok": True,
        "skipped": False,
        "duration_ms": 800.0,
        "observed": {},
        "error": None,
    }
    return {
        "scenario": "A story",
        "file": "stories/a.yaml",
        "tenant": tenant,
        "seed": {"faker_seed": 1},
        "ok": ok,
        "started_at": "2026-12-02T06:00:00+00:00",
        "duration_ms": 812.5,
        "failed_step": None if ok else 1,
        "error": None,
        "setup": setup,
        "steps": [step],
    }


def test_a_conformance_run_opens_the_report_the_cli_writes(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    document = report("acme", ok=False)
    stored = ui.client.post("/api/conformance-runs", json=document, headers=ADMIN).get_json()
    listing = text_of(ui.page("/conformance-runs").text)
    assert "saml-sp" in listing and "NOT CERTIFIED (1 MUST failed)" in listing and "0/1 passed" in listing
    page = ui.page(f"/conformance-runs/{stored['id']}")
    assert page.status_code == 200
    assert page.text == html_report(
        ui.client.get(f"/api/conformance-runs/{stored['id']}", headers=ADMIN).get_json()["report"]
    )
    assert "script-src" not in page.headers["Content-Security-Policy"]  # the report runs no script
    assert ui.page("/conformance-runs/999999").status_code == 404


def test_a_scenario_run_shows_its_timeline_and_why_it_failed(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    stored = ui.client.post("/api/scenario-runs", json=_scenario_result("acme", ok=False), headers=ADMIN)
    run_id = stored.get_json()["id"]
    listing = text_of(ui.page("/scenario-runs").text)
    assert "A story" in listing and "failed at step 1" in listing
    page = text_of(ui.page(f"/scenario-runs/{run_id}").text)
    assert "Failed" in page and "the member has a CE record" in page and "expected 1 record, found 0" in page


def test_a_tenant_key_sees_only_its_own_runs_and_cannot_start_one(ui_as: Any, make_tenant: Any) -> None:
    acme, other = make_tenant("acme"), make_tenant("other")
    admin = ui_as("test-admin-key")
    mine = admin.client.post(
        "/api/scenario-runs", json=_scenario_result("acme", True), headers=ADMIN
    ).get_json()
    theirs = admin.client.post(
        "/api/scenario-runs", json=_scenario_result("other", True), headers=ADMIN
    ).get_json()
    report_theirs = admin.client.post("/api/conformance-runs", json=report("other"), headers=ADMIN).get_json()
    session = ui_as(acme.api_key)
    assert session.page(f"/scenario-runs/{mine['id']}").status_code == 200
    assert session.page(f"/scenario-runs/{theirs['id']}").status_code == 404
    assert session.page(f"/conformance-runs/{report_theirs['id']}").status_code == 404
    assert "other" not in text_of(session.page("/scenario-runs").text).split("History", 1)[1]
    assert "Run a scenario from the library" not in session.page("/scenario-runs").text
    assert session.submit("/scenario-runs", scenario="01").status_code == 404
    assert other.id == "other"


def test_starting_an_unknown_library_scenario_says_so_and_starts_nothing(ui: UiSession) -> None:
    response = ui.submit("/scenario-runs", scenario="no-such-story")
    assert response.status_code == 303
    assert "There is no scenario 'no-such-story' in the library." in text_of(ui.page("/scenario-runs").text)
    api = ui.client.post("/api/scenario-runs/library", json={"scenario": "nope"}, headers=ADMIN)
    assert api.status_code == 422 and api.get_json()["code"] == "unknown_scenario"
    library = ui.client.get("/api/scenario-library", headers=ADMIN).get_json()["scenarios"]
    assert library[0]["name"].startswith("01-") and library[0]["title"]
