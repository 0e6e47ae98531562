"""``sandbox certify`` as a user meets it: listing, a target template, exit codes, and bad input that gets
one plain sentence (``file:line: message`` for target files) and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.harness.target import load_target
from conformance.saml_sp import SUITE
from conformance.saml_sp.target import SamlSpTarget
from simulator.scenario.client import SandboxClient
from simulator.scenario.target import free_ports
from tests.conformance.conftest import REFERENCE_TARGET, certify, invoke

pytestmark = pytest.mark.e2e

GOOD = """\
suite: saml-sp
idp: {tenant: lms-reference}
sp:
  metadata_url: "{lms_url}/t/{tenant}/saml/metadata"
  login_url: "{lms_url}/t/{tenant}/login?return_to=/t/{tenant}/me"
  idp_initiated: true
probe:
  url: "{lms_url}/t/{tenant}/me"
  signed_in: {status: 200, body_contains: "{member_id}"}
"""


def test_list_names_every_check_with_level_and_spec() -> None:
    result = invoke("certify", "list", "saml-sp")

    assert result.exit_code == 0
    for check in SUITE.checks:
        assert check.id in result.output and check.spec in result.output
    assert "MUST" in result.output and "SHOULD" in result.output
    assert invoke("certify", "list").exit_code == 0
    assert invoke("certify", "list", "no-such-suite").exit_code == 2


def test_init_writes_a_commented_template_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANDBOX_AMS_PORT", "9101")

    result = invoke("certify", "init", "saml-sp", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9101/t/acme/saml/metadata" in result.output
    text = (tmp_path / "target.yaml").read_text()
    assert "# " in text and "http://127.0.0.1:9101/t/acme/saml/metadata" in text
    loaded = load_target(tmp_path / "target.yaml", SamlSpTarget, "saml-sp", {})
    assert loaded.target.idp.tenant == "acme"
    assert loaded.target.probe.signed_in.templates == ["{email}"]
    again = invoke("certify", "init", "saml-sp")
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("  login_url:", "  login_page:"), 5, "sp.login_page: unknown field"),
        (("idp: {tenant: lms-reference}\n", ""), 1, "idp: required field is missing"),
        (("suite: saml-sp", "suite: oidc-rp"), 1, "this is a target for 'saml-sp'"),
        (
            ('body_contains: "{member_id}"', 'body_contains: "{membership}"'),
            9,
            "unknown placeholder {membership}",
        ),
        (("status: 200", "status: lots"), 9, "wrong type"),
        (('"{lms_url}/t/{tenant}/me"', "not a url"), 8, "probe.url"),
        (
            ("  idp_initiated: true\n", "  idp_initiated: true\n  metadata_file: sp.xml\n"),
            4,
            "exactly one of",
        ),
        (("sp:\n", "sp: [\n"), 5, "not valid YAML"),
    ],
)
def test_a_bad_target_file_is_named_by_file_and_line(
    certify_env: SandboxClient, tmp_path: Path, change: tuple[str, str], line: int, message: str
) -> None:
    target = tmp_path / "target.yaml"
    target.write_text(GOOD.replace(*change))
    before = certify_env.conformance_runs(limit=1)

    run = certify(target)

    assert run.exit_code == 2, run.output
    assert f"target.yaml:{line}:" in run.output and message in run.output
    assert "Traceback" not in run.output
    assert certify_env.conformance_runs(limit=1) == before


def test_unreachable_sp_and_unusable_metadata_exit_2_with_one_sentence(
    certify_env: SandboxClient, tmp_path: Path
) -> None:
    port = free_ports(1)[0]
    unreachable = tmp_path / "unreachable.yaml"
    unreachable.write_text(
        GOOD.replace('"{lms_url}/t/{tenant}/saml/metadata"', f"http://127.0.0.1:{port}/md")
    )
    run = certify(unreachable)
    assert run.exit_code == 2
    assert f"http://127.0.0.1:{port}/md could not be fetched (nothing answers there)" in run.output

    (tmp_path / "sp.xml").write_text("this is not XML")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text(
        GOOD.replace('metadata_url: "{lms_url}/t/{tenant}/saml/metadata"', "metadata_file: sp.xml")
    )
    run = certify(garbage)
    assert run.exit_code == 2
    assert "sp.xml is not XML" in run.output
    assert "Traceback" not in run.output and "Error" not in run.output.split(":", 1)[1]

    no_login = tmp_path / "no-login.yaml"
    no_login.write_text(
        GOOD.replace('"{lms_url}/t/{tenant}/login?return_to=/t/{tenant}/me"', f"http://127.0.0.1:{port}/")
    )
    run = certify(no_login)
    assert run.exit_code == 2 and "does not answer at its login URL" in run.output


def test_a_probe_that_never_shows_a_session_leaves_hostile_checks_not_judged(
    certify_env: SandboxClient, tmp_path: Path
) -> None:
    target = tmp_path / "blind-probe.yaml"
    target.write_text(
        GOOD.replace('body_contains: "{member_id}"', 'body_contains: "{member_id} never shown"')
    )

    run = certify(target)

    assert run.exit_code == 1
    outcomes = run.outcomes()
    assert run.failed() == {"SAML-SP-HONEST-1"}
    judged_without_sign_in = {check.id for check in SUITE.checks if not check.needs_baseline}
    for check in SUITE.checks:
        if check.needs_baseline and check.id not in run.failed() and outcomes[check.id] != "skipped":
            assert outcomes[check.id] == "not_judged", check.id
    assert {outcomes[check_id] for check_id in judged_without_sign_in - {"SAML-SP-HONEST-1"}} <= {
        "passed",
        "skipped",
    }
    assert "passed" not in {
        outcomes[c.id] for c in SUITE.checks if c.group in ("signature", "wrapping", "protocol")
    }


def test_bad_usage_exits_2(
    certify_env: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = certify(REFERENCE_TARGET, "--only", "SAML-SP-NOPE-1")
    assert run.exit_code == 2 and "No check of saml-sp matches 'SAML-SP-NOPE-1'" in run.output
    assert invoke("certify", "saml-sp").exit_code == 2  # --target is required

    monkeypatch.setenv("SANDBOX_CONSOLE_PORT", str(free_ports(1)[0]))
    run = certify(REFERENCE_TARGET)
    assert run.exit_code == 2 and "Nothing answers at" in run.output
