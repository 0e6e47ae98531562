"""The saml-sp suite certifies an SP built on pysaml2 (tests/conformance/pysaml2_sp.py), configured as its
documentation shows: it fails exactly the checks pysaml2 itself does not enforce, and passes the others.

The SP runs on real HTTP in this process; the suite reaches it and the session's sandbox over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario.client import SandboxClient
from tests.conformance.conftest import certify
from tests.conformance.pysaml2_sp import running_pysaml2_sp

pytestmark = pytest.mark.e2e

TENANT = "pysaml2-sp"
TARGET = """\
suite: saml-sp
idp: {{tenant: {tenant}}}
sp:
  metadata_url: {base}/metadata
  login_url: {base}/login?return_to=/whoami
probe:
  url: {base}/whoami
  signed_in: {{status: 200, body_contains: "{{email}}"}}
"""
PYSAML2_FAILURES = {
    "SAML-SP-SIG-8",  # sigver.verify_signature runs xmlsec1 --verify with no allow-list of signature methods
    "SAML-SP-SIG-9",  # …nor of digest methods; its own xmldsig validators check only transforms and c14n
    "SAML-SP-PROTO-17",  # StatusResponse._verify checks Destination only when the attribute is there
    "SAML-SP-PROTO-2",  # AuthnResponse.verify_recipient returns True unless conv_info is passed (none is)
    "SAML-SP-PROTO-4",  # response.for_me returns True for Conditions without any AudienceRestriction
    "SAML-SP-PROTO-8",  # no assertion-ID cache; AuthnResponse.loads keeps the used outstanding query
    "SAML-SP-PROTO-14",  # get_subject only reads a NameID if there is one; none is no error
    "SAML-SP-TIME-4",  # StatusResponse.issue_instant_ok accepts an IssueInstant up to a day (+ skew) old
    "SAML-SP-TIME-5",  # …and up to a day (+ skew) ahead
}
NOT_APPLICABLE = {
    "SAML-SP-ENC-1",  # the SP publishes no encryption key
    "SAML-SP-ENC-2",
    "SAML-SP-HONEST-3",  # want_assertions_signed puts WantAssertionsSigned="true" in the metadata
}
SP_INITIATED_ONLY = {"SAML-SP-HONEST-4", "SAML-SP-PROTO-9"}  # allow_unsolicited: False


@pytest.fixture
def idp_metadata_url(certify_env: SandboxClient) -> str:
    if certify_env.find_tenant(TENANT) is None:
        certify_env.create_tenant(TENANT)
    return f"{certify_env.ams_url}/t/{TENANT}/saml/metadata"


def test_pysaml2_fails_exactly_the_checks_it_does_not_enforce(idp_metadata_url: str, tmp_path: Path) -> None:
    target = tmp_path / "pysaml2.yaml"
    with running_pysaml2_sp(idp_metadata_url) as base:
        target.write_text(TARGET.format(tenant=TENANT, base=base))
        run = certify(target)

    assert run.outcomes()["SAML-SP-HONEST-1"] == "passed", run.output
    assert run.failed() == PYSAML2_FAILURES, run.output
    assert run.with_outcome("not_judged") == set()
    assert run.with_outcome("skipped") == NOT_APPLICABLE | SP_INITIATED_ONLY
    assert run.exit_code == 1, run.output
