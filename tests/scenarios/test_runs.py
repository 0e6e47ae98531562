"""Scenarios run against a real sandbox (gunicorn apps, a worker process) over HTTP only: every file of
scenarios/ is green, runs are deterministic, reports are well-formed, failures say expected vs observed,
the console keeps the history, and `sandbox scenario run` exits non-zero on failure."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from simulator.scenario.cli import scenario
from simulator.scenario.client import ApiError, SandboxClient
from simulator.scenario.loader import parse_scenario
from simulator.scenario.report import json_report, junit_xml
from simulator.scenario.runner import RunResult, run_scenario
from tests.scenarios.conftest import SCENARIOS_DIR

pytestmark = pytest.mark.e2e

FILES = sorted(SCENARIOS_DIR.glob("*.yaml"))

FAILING = """\
name: expects a course nobody bought
seed: {faker_seed: 1, members: 3}
actors:
  alex: {persona: active.member@demo.test}
steps:
  - sso_login: {actor: alex}
  - expect:
      lms.enrollments: {actor: alex, course: ETH-101}
  - complete_course: {actor: alex, course: ETH-101, score: 90}
"""

ORDERS = """\
name: three orders on two business days
seed: {faker_seed: 2, members: 3}
actors:
  alex: {persona: active.member@demo.test}
  sam: {persona: student@demo.test}
steps:
  - add_to_cart: {actor: alex, product: ETH-101}
  - checkout: {actor: alex, order: first}
  - add_to_cart: {actor: sam, product: CLE-204}
  - checkout: {actor: sam, payment: po, order: second}
  - advance_clock: {days: 2}
  - add_to_cart: {actor: alex, product: CLE-204}
  - checkout: {actor: alex, order: third}
"""


def load(text: str, name: str = "inline.yaml") -> Any:
    return parse_scenario(text, name)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_scenario_file_runs_green(sandbox: SandboxClient, path: Path) -> None:
    from simulator.scenario.loader import load_scenario

    result = run_scenario(load_scenario(path), sandbox)

    failed = result.failed_step
    assert result.ok, (
        f"step {failed.index} (line {failed.line}) {failed.label}: {failed.error}" if failed else ""
    )
    with pytest.raises(ApiError) as gone:
        sandbox.tenant(result.tenant).settings()
    assert gone.value.status == 404  # the run's tenant is deleted afterwards


def normalized(result: RunResult) -> list[Any]:
    """What a run observed, without what must differ between runs (tenant id, durations); order numbers
    are kept: they are the tenant's own sequence, so they repeat too."""
    text = json.dumps([entry.to_json() for entry in [result.setup, *result.steps]])
    text = text.replace(result.tenant, "TENANT")
    return json.loads(re.sub(r'"duration_ms": [0-9.]+', '"duration_ms": 0', text))


def test_the_same_file_and_seed_give_the_same_result_and_data(sandbox: SandboxClient) -> None:
    loaded = load((SCENARIOS_DIR / "04-nightly-batch-writeback.yaml").read_text(), "04.yaml")
    first = run_scenario(loaded, sandbox)
    second = run_scenario(loaded, sandbox)

    assert first.ok and second.ok
    assert first.tenant != second.tenant  # each run is isolated in a fresh tenant
    assert normalized(first) == normalized(second)


def test_the_same_file_and_seed_give_the_same_order_numbers(sandbox: SandboxClient) -> None:
    loaded = load(ORDERS, "orders.yaml")
    runs = [run_scenario(loaded, sandbox, keep_tenant=True) for _ in range(2)]
    try:
        assert all(run.ok for run in runs), [run.failed_step for run in runs]
        numbers = [sorted(order["number"] for order in sandbox.tenant(run.tenant).orders()) for run in runs]
    finally:
        for run in runs:
            sandbox.delete_tenant(run.tenant)

    assert numbers[0] == numbers[1] == ["O-260302-00000001", "O-260302-00000002", "O-260304-00000003"]


def test_a_failing_step_says_expected_and_observed_and_skips_the_rest(sandbox: SandboxClient) -> None:
    result = run_scenario(load(FAILING), sandbox)

    assert not result.ok
    assert [entry.ok for entry in result.steps] == [True, False, None]
    failed = result.steps[1]
    assert failed.line == 7
    assert failed.error == "lms.enrollments[alex]: expected ETH-101, observed none"
    assert failed.observed == {"lms.enrollments": {"courses": {}}}


def test_junit_and_json_reports_carry_the_timeline(sandbox: SandboxClient) -> None:
    result = run_scenario(load(FAILING, "failing.yaml"), sandbox)

    suite = ET.fromstring(junit_xml([result])).find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "expects a course nobody bought",
        "4",
        "1",
        "1",
    )
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "00 fresh tenant, actors",
        "01 sso_login alex",
        "02 expect lms.enrollments",
        "03 complete_course alex ETH-101 score=90.0",
    ]
    assert cases[2].find("failure").get("message") == "lms.enrollments[alex]: expected ETH-101, observed none"
    assert cases[3].find("skipped") is not None
    document = json.loads(json_report([result]))
    assert document["ok"] is False
    assert document["runs"][0]["failed_step"] == 2
    assert document["runs"][0]["steps"][0]["observed"]["protocol"] == "saml"


def test_the_console_keeps_past_runs(sandbox: SandboxClient) -> None:
    result = run_scenario(load(FAILING, "failing.yaml"), sandbox, keep_tenant=True)

    stored = sandbox.store_scenario_run(result.to_json())
    assert stored["ok"] is False and stored["failed_step"] == 2 and stored["tenant"] == result.tenant
    assert sandbox.scenario_runs()[0]["id"] == stored["id"]
    kept = sandbox.scenario_run(stored["id"])
    assert kept["result"]["steps"][1]["error"] == result.steps[1].error

    tenant_key = sandbox.console("POST", f"/tenants/{result.tenant}/api-key")["api_key"]
    headers = {"Authorization": f"Bearer {tenant_key}"}
    mine = httpx.get(f"{sandbox.console_url}/api/scenario-runs", headers=headers).json()["runs"]
    assert [run["id"] for run in mine] == [stored["id"]]  # a tenant key sees only its tenant's runs
    refused = httpx.post(f"{sandbox.console_url}/api/scenario-runs", headers=headers, json=result.to_json())
    assert refused.status_code == 403
    sandbox.delete_tenant(result.tenant)
    assert sandbox.scenario_run(stored["id"])["id"] == stored["id"]  # the history outlives the tenant


def test_the_cli_prints_the_timeline_writes_reports_and_exits_1_on_failure(
    sandbox_env: SandboxClient, tmp_path: Path
) -> None:
    (tmp_path / "failing.yaml").write_text(FAILING)
    good = SCENARIOS_DIR / "13-token-handoff-sign-in.yaml"

    result = CliRunner().invoke(
        scenario,
        ["run", str(good), "failing.yaml", "--junit", "out.xml", "--json", "out.json", "--no-start"],
    )

    assert result.exit_code == 1, result.output
    assert "PASS 7/7 steps" in result.output
    assert "FAIL 1/3 steps" in result.output or "FAIL 2/3 steps" in result.output
    assert "expected ETH-101, observed none" in result.output
    assert "1 passed, 1 failed." in result.output
    assert ET.parse(tmp_path / "out.xml").getroot().tag == "testsuites"
    assert [run["ok"] for run in json.loads((tmp_path / "out.json").read_text())["runs"]] == [True, False]
    history = sandbox_env.scenario_runs(limit=2)
    assert [run["scenario"] for run in history] == [
        "expects a course nobody bought",
        "Token hand-off sign-in",
    ]
