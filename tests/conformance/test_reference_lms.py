"""The saml-sp suite proves itself on the sandbox's own LMS: every MUST and SHOULD check passes, from the
shipped target file, through the real CLI, and the run leaves the tenant as it found it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from conformance.saml_sp import SUITE
from simulator.scenario.client import SandboxClient
from tests.conformance.conftest import REFERENCE_TARGET, REPO, certify

pytestmark = pytest.mark.e2e

TENANT = "lms-reference"
NOT_APPLICABLE_TO_THE_LMS = {
    "SAML-SP-HONEST-3",  # its metadata says WantAssertionsSigned="true"
    "SAML-SP-PROTO-7",  # it allows IdP-initiated sign-on (the target says so)
}


def test_the_sandbox_lms_passes_every_check(certify_env: SandboxClient, tmp_path: Path) -> None:
    run = certify(REFERENCE_TARGET, "--junit", "report.xml", "--html", "report.html")

    assert run.exit_code == 0, run.output
    assert run.failed() == set()
    assert run.with_outcome("not_judged") == set()
    assert run.with_outcome("skipped") == NOT_APPLICABLE_TO_THE_LMS
    assert len(run.outcomes()) == len(SUITE.checks) >= 45
    assert "CERTIFIED" in run.output
    report = run.report
    assert report is not None and report["ok"] is True
    schema = json.loads((REPO / "conformance" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)

    suite = ET.parse(tmp_path / "report.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert len(suite.findall("testcase")) == len(SUITE.checks)
    html = (tmp_path / "report.html").read_text()
    assert "CERTIFIED: every MUST check passed" in html and "SAML-SP-XSW-8" in html
    assert "<script" not in html and "http://" not in html.split("<body>")[0]  # self-contained

    stored = certify_env.conformance_runs(limit=1)[0]
    assert stored["ok"] is True and stored["tenant"] == TENANT
    assert certify_env.conformance_run(stored["id"])["report"]["checks"] == report["checks"]


def test_the_run_leaves_the_tenant_as_it_found_it(certify_env: SandboxClient) -> None:
    tenant = certify_env.tenant(TENANT)
    certify(REFERENCE_TARGET, "--only", "SAML-SP-HONEST-1")
    members_before = {m["member_id"] for m in tenant.members(limit=500)}
    providers_before = tenant.service_providers()
    keys_before = tenant.control("GET", "/keys")

    run = certify(REFERENCE_TARGET, "--only", "SAML-SP-HONEST-*")

    assert run.exit_code == 0, run.output
    assert {m["member_id"] for m in tenant.members(limit=500)} == members_before
    assert [(p["entity_id"], p["sign"]) for p in tenant.service_providers()] == [
        (p["entity_id"], p["sign"]) for p in providers_before
    ]
    assert tenant.control("GET", "/keys") == keys_before

    kept = certify(REFERENCE_TARGET, "--only", "SAML-SP-HONEST-1", "--keep")
    assert kept.exit_code == 0
    test_members = {m["member_id"] for m in tenant.members(limit=500)} - members_before
    assert {member.rsplit("-", 1)[1] for member in test_members} == {"M", "V"}
    for member in test_members:
        tenant.delete_member(member)


def test_an_lms_that_refuses_unsolicited_responses_passes_the_unsolicited_check(
    certify_env: SandboxClient, tmp_path: Path
) -> None:
    tenant = certify_env.tenant(TENANT)
    target = tmp_path / "no-idp-initiated.yaml"
    target.write_text(REFERENCE_TARGET.read_text().replace("idp_initiated: true", "idp_initiated: false"))
    tenant.patch_settings({"sso": {"allow_idp_initiated": False}})
    try:
        run = certify(
            target, "--only", "SAML-SP-HONEST-4", "--only", "SAML-SP-PROTO-7", "--only", "SAML-SP-PROTO-9"
        )
    finally:
        tenant.patch_settings({"sso": {"allow_idp_initiated": None}})

    assert run.exit_code == 0, run.output
    assert run.outcomes() == {
        "SAML-SP-HONEST-4": "skipped",
        "SAML-SP-PROTO-7": "passed",
        "SAML-SP-PROTO-9": "skipped",
    }
