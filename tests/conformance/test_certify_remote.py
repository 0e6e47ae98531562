"""`sandbox certify SUITE` and `sandbox certify history` pointed at a sandbox by options, as a CI job does:
--console-url, --ams-url, --lms-url and --admin-key (or --admin-key-file), with no SANDBOX_* environment.

The named sandbox is the session's temporary one (the plugin's ``sandbox`` fixture); a run kept in its
console's history proves the command used it rather than starting a sandbox of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.scenario.client import SandboxClient
from simulator.scenario.target import free_ports
from tests.conformance.conftest import REFERENCE_TARGET, invoke

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def no_sandbox_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No SANDBOX_* setting and no sandbox.toml: only the options say where the sandbox is."""
    for name in [name for name in os.environ if name.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def url_options(sandbox: SandboxClient) -> list[str]:
    return ["--console-url", sandbox.console_url, "--ams-url", sandbox.ams_url, "--lms-url", sandbox.lms_url]


def test_certify_runs_against_the_sandbox_the_options_name_and_keeps_the_run_there(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    key_file = tmp_path / "admin-key"
    key_file.write_text(sandbox.key + "\n")

    result = invoke(
        "certify", "saml-sp", "--target", str(REFERENCE_TARGET), "--only", "SAML-SP-HONEST-1",
        *url_options(sandbox), "--admin-key-file", str(key_file),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [newest] = sandbox.conformance_runs(limit=1)
    assert f"stored as run {newest['id']} ({sandbox.console_url}/" in result.output
    assert (newest["suite"], newest["ok"], newest["checks"]) == ("saml-sp", True, 1)

    history = invoke("certify", "history", "--limit", "1", *url_options(sandbox), "--admin-key", sandbox.key)
    assert history.exit_code == 0, history.output
    assert history.output.split()[:4] == [str(newest["id"]), newest["started_at"], "saml-sp", "CERTIFIED"]


@pytest.mark.parametrize(
    ("command", "silent_app"),
    [(["saml-sp", "--target", str(REFERENCE_TARGET)], "lms"), (["history"], "console")],
)
def test_a_named_sandbox_that_does_not_answer_exits_2_with_one_sentence(
    sandbox: SandboxClient, command: list[str], silent_app: str
) -> None:
    nobody = f"http://127.0.0.1:{free_ports(1)[0]}"
    urls = {
        "console": sandbox.console_url,
        "ams": sandbox.ams_url,
        "lms": sandbox.lms_url,
        silent_app: nobody,
    }
    runs_before = sandbox.conformance_runs(limit=1)

    result = invoke(
        "certify", *command, *(part for app, url in urls.items() for part in (f"--{app}-url", url)),
        "--admin-key", sandbox.key,
    )  # fmt: skip

    assert result.exit_code == 2
    assert result.output == (
        f"Error: Nothing answers at {nobody} (--{silent_app}-url): check the address and that the sandbox "
        "there is running.\n"
    )
    assert sandbox.conformance_runs(limit=1) == runs_before


def test_history_needs_only_the_console(sandbox: SandboxClient) -> None:
    result = invoke("certify", "history", "--console-url", sandbox.console_url, "--admin-key", sandbox.key)

    assert result.exit_code == 0, result.output
