"""Helpers for the conformance tests: run ``sandbox certify`` as a user would, against the session's
temporary sandbox (the plugin's ``sandbox`` fixture), and read what it wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conformance.broken import create_app
from simulator.cli import main
from simulator.lms.sso.keys import generate_key_pair
from simulator.scenario.client import SandboxClient
from tests.conformance.broken_sp_support import BASE, Sp
from tests.sso.saml_attacks import TestIdp

REPO = Path(__file__).resolve().parents[2]
REFERENCE_TARGET = REPO / "conformance" / "targets" / "sandbox-lms.yaml"
BROKEN_SPS_TENANT = "broken-sps"
TARGET = """\
suite: saml-sp
idp: {{tenant: {tenant}}}
sp:
  metadata_url: {base}/metadata
  login_url: {base}/login?return_to=/whoami
  idp_initiated: {idp_initiated}
probe:
  url: {base}/whoami
  signed_in: {{status: 200, body_contains: "{probe}"}}
"""


@dataclass
class Certified:
    exit_code: int
    output: str
    report: dict[str, Any] | None

    def outcomes(self) -> dict[str, str]:
        assert self.report is not None, self.output
        return {check["id"]: check["outcome"] for check in self.report["checks"]}

    def failed(self) -> set[str]:
        return {check_id for check_id, outcome in self.outcomes().items() if outcome == "failed"}

    def with_outcome(self, outcome: str) -> set[str]:
        return {check_id for check_id, found in self.outcomes().items() if found == outcome}


def invoke(*args: str) -> Any:
    """``sandbox ARGS…`` in process, as a user types it."""
    return CliRunner().invoke(main, list(args))


def certify(target: Path, *options: str, suite: str = "saml-sp") -> Certified:
    """``sandbox certify SUITE --target TARGET OPTIONS… --no-start --json report.json`` in the cwd."""
    report = Path(f"report-{target.stem}.json")
    report.unlink(missing_ok=True)
    result = invoke("certify", suite, "--target", str(target), *options, "--no-start", "--json", str(report))
    written = json.loads(report.read_text()) if report.exists() else None
    return Certified(result.exit_code, result.output, written)


@pytest.fixture
def certify_env(sandbox_env: SandboxClient) -> SandboxClient:
    """The session's sandbox, configured through SANDBOX_* as a user would, cwd a fresh folder."""
    return sandbox_env


def write_target(path: Path, base: str, idp_initiated: bool = False, probe: str = "{email}") -> Path:
    path.write_text(
        TARGET.format(
            tenant=BROKEN_SPS_TENANT, base=base, idp_initiated=str(idp_initiated).lower(), probe=probe
        )
    )
    return path


# --- the broken SPs, offline (tests/conformance/broken_sp_support.py) ---


@pytest.fixture(scope="module")
def idp() -> TestIdp:
    return TestIdp("https://idp.test/entity", "https://idp.test/sso")


@pytest.fixture(scope="module")
def other_key() -> tuple[str, str]:
    return generate_key_pair("another idp")


@pytest.fixture
def make_sp(idp: TestIdp) -> Callable[..., Sp]:
    def make(flaw: str = "none", allow_unsolicited: bool = False) -> Sp:
        return Sp(create_app(flaw, BASE, idp.metadata(), allow_unsolicited), idp)

    return make


@pytest.fixture
def sp(make_sp: Callable[..., Sp]) -> Sp:
    return make_sp()
