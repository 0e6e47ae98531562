"""The harness as a pytest plugin: ``pytest --sandbox-target target.yaml`` runs a suite's checks as test
items (in a separate pytest process, as a user runs it), and the ``sandbox_tenant`` fixture gives a test
a fresh tenant of the session's sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.broken.server import running_sp
from simulator.scenario.client import ApiError, SandboxClient, TenantClient
from tests.conformance.conftest import REFERENCE_TARGET, write_target

pytestmark = pytest.mark.e2e

BLIND_PROBE = 'body_contains: "{member_id} never shown"'


def run_pytest(sandbox: SandboxClient, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SANDBOX_", "PYTEST_"))}
    for name in ("console", "ams", "lms"):
        env[f"SANDBOX_{name.upper()}_PORT"] = getattr(sandbox, f"{name}_url").rsplit(":", 1)[1]
    env["SANDBOX_ADMIN_KEY"] = sandbox.key
    env["SANDBOX_DATA_DIR"] = str(folder / "data")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rsx",
        "--rootdir",
        str(folder),
        *args,
    ]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_check_is_a_test_item(sandbox: SandboxClient, tmp_path: Path) -> None:
    result = run_pytest(
        sandbox, tmp_path, "--sandbox-target", str(REFERENCE_TARGET), "-k", "HONEST or PROTO or META"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "24 passed, 2 skipped" in result.stdout
    assert "Not applicable: the SP's metadata asks for signed assertions" in result.stdout


def test_a_must_failure_fails_its_item_and_a_should_failure_is_xfailed(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    if sandbox.find_tenant("broken-sps") is None:
        sandbox.create_tenant("broken-sps")
    with running_sp("skip-signature", f"{sandbox.ams_url}/t/broken-sps/saml/metadata") as base:
        target = write_target(tmp_path / "skip-signature.yaml", base)
        selection = "SAML-SP-HONEST-1 or SAML-SP-SIG-2 or SAML-SP-SIG-8"
        result = run_pytest(sandbox, tmp_path, "--sandbox-target", str(target), "-k", selection)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed, 64 deselected, 1 xfailed" in result.stdout
    assert "SAML-SP-SIG-2 (MUST, SAML profiles 2.0 §4.1.3.5 and §4.1.4.3): Accepted" in result.stdout
    assert "SHOULD not met: Accepted" in result.stdout


def test_a_should_check_that_cannot_be_judged_is_skipped(sandbox: SandboxClient, tmp_path: Path) -> None:
    target = tmp_path / "blind.yaml"
    target.write_text(REFERENCE_TARGET.read_text().replace('body_contains: "{member_id}"', BLIND_PROBE))

    result = run_pytest(
        sandbox, tmp_path, "--sandbox-target", str(target), "-k", "SAML-SP-HONEST-1 or SAML-SP-ATTR-1"
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 skipped" in result.stdout
    assert (
        "SAML-SP-HONEST-1 (MUST, SAML profiles 2.0 §4.1.4.3): No session appeared at the probe"
        in result.stdout
    )


def test_a_file_that_is_no_target_is_a_usage_error(sandbox: SandboxClient, tmp_path: Path) -> None:
    (tmp_path / "nothing.yaml").write_text("hello: world\n")
    result = run_pytest(sandbox, tmp_path, "--sandbox-target", "nothing.yaml")
    assert result.returncode == 4
    assert "nothing.yaml: not a target file of a known suite (saml-sp)" in result.stderr


def test_sandbox_tenant_is_fresh_and_goes_away(sandbox: SandboxClient, sandbox_tenant: TenantClient) -> None:
    assert sandbox_tenant.member_by_email("active.member@demo.test") is not None
    assert sandbox.find_tenant(sandbox_tenant.tenant_id) is not None
    request = sandbox_tenant.tenant_id
    test_sandbox_tenant_is_fresh_and_goes_away.created = request  # type: ignore[attr-defined]


def test_the_tenant_of_the_previous_test_is_gone(sandbox: SandboxClient) -> None:
    created = getattr(test_sandbox_tenant_is_fresh_and_goes_away, "created", None)
    assert created is not None
    assert sandbox.find_tenant(created) is None
    with pytest.raises(ApiError):
        sandbox.tenant(created).settings()
