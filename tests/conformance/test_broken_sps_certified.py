"""The saml-sp suite proves itself: each deliberately broken SP (conformance/broken) fails exactly the checks
its flaw explains and passes every other one; the strict SP they are built on passes them all.

The SPs run on real HTTP in this process; the suite reaches them and the session's sandbox over HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.broken.server import base_url_of, bind_sp, running_sp
from simulator.scenario.client import SandboxClient
from tests.conformance.conftest import BROKEN_SPS_TENANT as TENANT
from tests.conformance.conftest import certify, write_target

pytestmark = pytest.mark.e2e


NOT_APPLICABLE = {"SAML-SP-ENC-1", "SAML-SP-ENC-2"}  # the SPs publish no encryption key
SP_INITIATED_ONLY = {"SAML-SP-HONEST-4", "SAML-SP-PROTO-9"}
EXPECTED_FAILURES = {
    "none": set(),
    "skip-signature": {f"SAML-SP-SIG-{n}" for n in range(1, 10)},
    "ignore-audience": {"SAML-SP-PROTO-3", "SAML-SP-PROTO-4"},
    "no-replay-cache": {"SAML-SP-PROTO-8"},
    "xsw": {
        "SAML-SP-XSW-2",  # accepted the wrapped response (signed in as the member it really names)
        "SAML-SP-XSW-3",
        "SAML-SP-XSW-4",
        "SAML-SP-XSW-5",
        "SAML-SP-SIG-12",  # the signature references the original, moved elsewhere
        "SAML-SP-PROTO-16",  # it never counts assertions
    },
    "truncate-nameid": {"SAML-SP-SIG-10"},
    "ignore-time": {f"SAML-SP-TIME-{n}" for n in range(1, 6)},
    "accept-unsolicited": {"SAML-SP-PROTO-7"},
}


@pytest.fixture
def idp_metadata_url(certify_env: SandboxClient) -> str:
    if certify_env.find_tenant(TENANT) is None:
        certify_env.create_tenant(TENANT)
    return f"{certify_env.ams_url}/t/{TENANT}/saml/metadata"


@pytest.mark.parametrize("flaw", sorted(EXPECTED_FAILURES))
def test_each_sp_fails_exactly_the_checks_its_flaw_explains(
    idp_metadata_url: str, tmp_path: Path, flaw: str
) -> None:
    with running_sp(flaw, idp_metadata_url) as base:
        run = certify(write_target(tmp_path / f"{flaw}.yaml", base))

    assert run.failed() == EXPECTED_FAILURES[flaw], run.output
    assert run.with_outcome("not_judged") == set()
    assert run.with_outcome("skipped") == NOT_APPLICABLE | SP_INITIATED_ONLY
    assert run.exit_code == (0 if flaw == "none" else 1), run.output


def test_the_strict_sp_allowing_idp_initiated_sign_on_passes_the_unsolicited_checks(
    idp_metadata_url: str, tmp_path: Path
) -> None:
    with running_sp("none", idp_metadata_url, allow_unsolicited=True) as base:
        run = certify(write_target(tmp_path / "unsolicited.yaml", base, idp_initiated=True))

    assert run.exit_code == 0, run.output
    assert run.failed() == set()
    assert run.with_outcome("skipped") == NOT_APPLICABLE | {"SAML-SP-PROTO-7"}
    assert run.outcomes()["SAML-SP-PROTO-9"] == run.outcomes()["SAML-SP-HONEST-4"] == "passed"


def test_a_truncated_identity_is_caught_even_when_the_probe_is_judged_by_member_id(
    idp_metadata_url: str, tmp_path: Path
) -> None:
    """The truncating SP keeps the attacker's member id but shows the victim's email: still a fail."""
    with running_sp("truncate-nameid", idp_metadata_url) as base:
        target = write_target(tmp_path / "by-member-id.yaml", base, probe="{member_id}")
        run = certify(target, "--only", "SAML-SP-SIG-10")

    assert run.outcomes() == {"SAML-SP-SIG-10": "failed"}
    assert "shortened identity" in run.report["checks"][0]["reason"]


def test_an_sp_that_churns_past_the_timeout_on_a_big_message_fails(
    idp_metadata_url: str, tmp_path: Path
) -> None:
    """A 2 MB message refused, but only after longer than the target's timeout: not bounded, a fail."""
    server = bind_sp("none", idp_metadata_url)
    app = server.app

    def slow_on_big_messages(environ: dict[str, Any], start_response: Any) -> Any:
        if int(environ.get("CONTENT_LENGTH") or 0) > 1_000_000:
            time.sleep(1.5)
        return app(environ, start_response)

    server.app = slow_on_big_messages
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = write_target(tmp_path / "slow.yaml", base_url_of(server))
        target.write_text(target.read_text() + "timeout_seconds: 1\n")
        run = certify(target, "--only", "SAML-SP-XML-4", "--only", "SAML-SP-XML-3")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()

    assert run.outcomes() == {"SAML-SP-XML-3": "passed", "SAML-SP-XML-4": "failed"}
    assert (
        "the ACS gave no answer (no answer within 1 s): unbounded work" in run.report["checks"][1]["reason"]
    )
