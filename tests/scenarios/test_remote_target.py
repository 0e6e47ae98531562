"""`sandbox scenario run` and `sandbox scenario history` pointed at a sandbox by options, as a CI job does:
--console-url, --ams-url, --lms-url and --admin-key (or --admin-key-file), with no SANDBOX_* environment.

The named sandbox is the session's temporary one (the plugin's ``sandbox`` fixture); a run kept in its
console's history proves the command used it rather than starting a sandbox of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.scenario.client import SandboxClient
from simulator.scenario.loader import parse_scenario
from simulator.scenario.runner import run_scenario
from simulator.scenario.target import free_ports
from tests.scenarios.conftest import SCENARIOS_DIR

pytestmark = pytest.mark.e2e

TOKEN_HANDOFF = SCENARIOS_DIR / "13-token-handoff-sign-in.yaml"
SIGN_IN_NAME = "one sign-in for the history"
SIGN_IN = f"""\
name: {SIGN_IN_NAME}
seed: {{faker_seed: 1, members: 0}}
actors:
  alex: {{persona: active.member@demo.test}}
steps:
  - sso_login: {{actor: alex}}
"""


@pytest.fixture(autouse=True)
def no_sandbox_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No SANDBOX_* setting and no sandbox.toml: only the options say where the sandbox is."""
    for name in [name for name in os.environ if name.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def url_options(sandbox: SandboxClient) -> list[str]:
    return ["--console-url", sandbox.console_url, "--ams-url", sandbox.ams_url, "--lms-url", sandbox.lms_url]


def sandbox_command(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_run_uses_the_sandbox_the_options_name_and_keeps_the_run_there(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    key_file = tmp_path / "admin-key"
    key_file.write_text(sandbox.key + "\n")

    result = sandbox_command(
        "scenario", "run", str(TOKEN_HANDOFF), *url_options(sandbox), "--admin-key-file", str(key_file)
    )

    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed." in result.output
    assert f"stored as run {sandbox.scenario_runs(limit=1)[0]['id']} ({sandbox.console_url}/" in result.output
    assert sandbox.scenario_runs(limit=1)[0]["scenario"] == "Token hand-off sign-in"
    assert not (tmp_path / ".sandbox").exists()  # no local key was made up for it


def test_history_lists_the_runs_of_the_sandbox_the_options_name(sandbox: SandboxClient) -> None:
    played = run_scenario(parse_scenario(SIGN_IN, "history.yaml"), sandbox)
    stored = sandbox.store_scenario_run(played.to_json())

    result = sandbox_command(
        "scenario", "history", "--limit", "1", *url_options(sandbox), "--admin-key", sandbox.key
    )

    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"{stored['id']:>5}  {stored['started_at']}") and line.endswith(SIGN_IN_NAME)


@pytest.mark.parametrize("command", [["run", str(TOKEN_HANDOFF)], ["history"]])
def test_a_named_sandbox_that_does_not_answer_is_one_sentence_and_none_is_started(
    sandbox: SandboxClient, command: list[str]
) -> None:
    nobody = f"http://127.0.0.1:{free_ports(1)[0]}"
    runs_before = sandbox.scenario_runs(limit=1)

    result = sandbox_command(
        "scenario", *command, "--console-url", nobody, "--ams-url", sandbox.ams_url,
        "--lms-url", sandbox.lms_url, "--admin-key", sandbox.key,
    )  # fmt: skip

    assert result.exit_code != 0
    assert result.output == (
        f"Error: Nothing answers at {nobody} (--console-url): check the address and that the sandbox "
        "there is running.\n"
    )
    assert sandbox.scenario_runs(limit=1) == runs_before


def test_an_ams_url_that_is_not_an_ams_says_so(sandbox: SandboxClient) -> None:
    result = sandbox_command(
        "scenario", "run", str(TOKEN_HANDOFF), "--console-url", sandbox.console_url,
        "--ams-url", sandbox.lms_url, "--lms-url", sandbox.lms_url, "--admin-key", sandbox.key,
    )  # fmt: skip

    assert result.exit_code != 0
    assert f"{sandbox.lms_url} (--ams-url) is the sandbox's LMS, not its AMS." in result.output


def test_history_needs_only_the_console_url(sandbox: SandboxClient) -> None:
    result = sandbox_command(
        "scenario", "history", "--console-url", sandbox.console_url, "--admin-key", sandbox.key
    )

    assert result.exit_code == 0, result.output


def test_a_url_without_a_scheme_and_two_keys_are_refused_as_bad_usage(
    sandbox: SandboxClient, tmp_path: Path
) -> None:
    no_scheme = sandbox_command("scenario", "history", "--console-url", "127.0.0.1:8000")
    assert no_scheme.exit_code == 2
    assert "'127.0.0.1:8000' is not an http:// or https:// URL." in no_scheme.output

    (tmp_path / "key").write_text(sandbox.key)
    both = sandbox_command(
        "scenario", "history", *url_options(sandbox), "--admin-key", "x", "--admin-key-file", "key"
    )
    assert both.exit_code == 2 and "Give --admin-key or --admin-key-file, not both." in both.output
