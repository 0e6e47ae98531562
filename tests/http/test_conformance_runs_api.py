"""The console keeps conformance runs: ``/api/conformance-runs`` stores, lists and returns reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from simulator.cli import main
from simulator.console.conformance_api import report_schema
from tests.conftest import ADMIN

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "conformance" / "report.schema.json"


def report(tenant: str, ok: bool = True, connector: str = "https://sp.example/metadata") -> dict[str, Any]:
    check = {
        "id": "SAML-SP-PROTO-3",
        "level": "MUST",
        "group": "protocol",
        "title": "An assertion meant for another audience is refused",
        "spec": "SAML core 2.0 §2.5.1.4",
        "remediation": "Require your entityID in every AudienceRestriction.",
        "outcome": "passed" if ok else "failed",
        "reason": "Refused: no session appeared.",
        "duration_ms": 81.5,
        "sent": {
            "description": "Audience is another SP's.",
            "message": "<Response/>",
            "changed_lines": [1],
            "diff": None,
        },
        "observed": {"acs_status": 403, "signed_in_as": []},
    }
    return {
        "report_version": 1,
        "suite": "saml-sp",
        "suite_title": "SAML 2.0 service provider",
        "sandbox_version": "1.0",
        "target_file": "target.yaml",
        "target": {"sp_entity_id": connector, "idp_tenant": tenant},
        "started_at": "2026-12-02T06:00:00+00:00",
        "duration_ms": 4500.0,
        "ok": ok,
        "baseline": "Signed in as the member.",
        "summary": {
            "checks": 1,
            "passed": int(ok),
            "failed": int(not ok),
            "not_judged": 0,
            "skipped": 0,
            "must_failed": int(not ok),
            "should_failed": 0,
        },
        "checks": [check],
    }


def test_the_published_schema_is_the_one_the_api_validates_with() -> None:
    """`sandbox certify schema > conformance/report.schema.json` refreshes the published file."""
    assert json.loads(SCHEMA_FILE.read_text()) == report_schema()
    printed = CliRunner().invoke(main, ["certify", "schema"])
    assert json.loads(printed.output) == report_schema()
    jsonschema.validate(report("acme"), report_schema())


def test_runs_are_stored_listed_and_read_back(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    stored = console.post("/api/conformance-runs", json=report("acme", ok=False), headers=ADMIN)
    assert stored.status_code == 201, stored.get_json()
    summary = stored.get_json()
    assert (summary["ok"], summary["must_failed"], summary["connector"]) == (
        False,
        1,
        "https://sp.example/metadata",
    )
    assert stored.headers["Location"] == f"/api/conformance-runs/{summary['id']}"

    listed = console.get("/api/conformance-runs?suite=saml-sp", headers=ADMIN).get_json()["runs"]
    assert [run["id"] for run in listed] == [summary["id"]]
    one = console.get(f"/api/conformance-runs/{summary['id']}", headers=ADMIN).get_json()
    assert one["report"] == report("acme", ok=False)

    assert (
        console.get("/api/conformance-runs", headers=acme.auth).get_json()["runs"][0]["id"] == summary["id"]
    )
    assert console.delete("/api/tenants/acme", headers=ADMIN).status_code == 204
    assert console.get(f"/api/conformance-runs/{summary['id']}", headers=ADMIN).status_code == 200


def test_a_tenant_key_sees_only_its_runs_and_cannot_store(console: Any, make_tenant: Any) -> None:
    acme, bravo = make_tenant("acme"), make_tenant("bravo")
    first = console.post("/api/conformance-runs", json=report("acme"), headers=ADMIN).get_json()

    assert console.get("/api/conformance-runs", headers=bravo.auth).get_json()["runs"] == []
    assert console.get(f"/api/conformance-runs/{first['id']}", headers=bravo.auth).status_code == 404
    refused = console.post("/api/conformance-runs", json=report("bravo"), headers=bravo.auth)
    assert refused.status_code == 403
    assert console.get(f"/api/conformance-runs/{first['id']}", headers=acme.auth).status_code == 200


def test_a_bad_report_is_refused_and_nothing_is_stored(console: Any) -> None:
    bad = report("acme")
    bad["checks"][0]["outcome"] = "sort of"
    refused = console.post("/api/conformance-runs", json=bad, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "checks.0.outcome"
    assert console.get("/api/conformance-runs", headers=ADMIN).get_json()["runs"] == []
