"""`sandbox loadtest` runs real locust against a real sandbox, reconciles what was sent against what the
sandbox stored, and says so in its exit code and reports — and it catches a sandbox that acknowledges
records it never stores. Every locust process it starts is gone when it returns."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.scenario.client import SandboxClient

pytestmark = pytest.mark.e2e

INBOX = "/writeback/records"


def processes_marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("LOADTEST_TEST_MARK") == mark:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture
def loadtest(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Run `sandbox loadtest ARGS…` against the test session's sandbox; (result, JSON report or None).

    Afterwards no process started by the command (locust master, workers) may be left running.
    """
    mark = uuid.uuid4().hex
    monkeypatch.setenv("LOADTEST_TEST_MARK", mark)
    monkeypatch.chdir(tmp_path)
    target = [
        f"--console-url={sandbox.console_url}",
        f"--ams-url={sandbox.ams_url}",
        f"--lms-url={sandbox.lms_url}",
        f"--admin-key={sandbox.key}",
    ]

    def run(*args: str) -> tuple[Result, dict[str, Any] | None]:
        report = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
        result = CliRunner().invoke(main, ["loadtest", *args, *target, "--json", str(report)])
        assert processes_marked(mark) == []
        return result, json.loads(report.read_text()) if report.exists() else None

    return run


def rows(report: dict[str, Any], section: str = "writeback") -> dict[str, Any]:
    found = next(s for s in report["reconciliation"] if s["title"] == section)
    return {row["measure"]: row["value"] for row in found["rows"]}


def test_writeback_ingest_stores_every_record_once_and_reports_it(loadtest: Any, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    result, report = loadtest("writeback-ingest", "--users", "4", "--run-time", "3s", "--html", str(html))

    assert result.exit_code == 0, result.output
    assert "PASSED: nothing lost, nothing duplicated." in result.output
    table = rows(report)
    assert table["sent"] > 200  # bulk deliveries of 100 and single envelopes
    assert table["stored"] == table["answered accepted"] > 0
    assert table["answered rejected"] > 0  # the records naming no member, sent so on purpose
    assert table["lost"] == table["duplicated"] == table["phantoms"] == 0
    assert rows(report)["re-sent, accepted again"] == 0
    details = next(s for s in report["reconciliation"] if s["title"] == "writeback")["details"]
    assert details["rejected_reasons"] and all("unknown_member" in r for r in details["rejected_reasons"])
    endpoints = {e["name"] for e in report["locust"]["endpoints"]}
    assert "POST /writeback/records (bulk 100)" in endpoints
    assert all(e["p95_ms"] is not None for e in report["locust"]["endpoints"])
    assert report["cpu"]["sandbox_ms_per_request"] > 0  # `sandbox up` on this machine: its CPU is measured
    page = html.read_text()
    assert "PASSED" in page and "Reconciliation" in page and "p95" in page


def test_distributed_run_under_503s_and_resets_still_loses_nothing(loadtest: Any) -> None:
    faults = [
        {"app": "ams", "path": INBOX, "status": 503, "retry_after": 0, "probability": 0.2, "seed": 3},
        {"app": "ams", "path": INBOX, "kind": "connection_reset", "probability": 0.05, "seed": 4},
    ]
    result, report = loadtest(
        "writeback-ingest",
        "--users", "4",
        "--run-time", "4s",
        "--workers", "2",
        *(f"--fault={json.dumps(rule)}" for rule in faults),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert report["settings"]["workers"] == 2
    errors = " ".join(error["error"] for error in report["locust"]["errors"])
    assert "503" in errors  # the faults fired, the connectors retried
    table = rows(report)
    assert (
        table["stored"]
        == table["answered accepted"] + table["answered duplicate"] - table["invalid yet stored"]
    )
    assert table["stored"] > 0
    assert table["lost"] == table["duplicated"] == table["phantoms"] == 0
    assert report["verdict"] == {"passed": True, "problems": []}


def test_an_inbox_that_acknowledges_without_storing_fails_the_run(loadtest: Any) -> None:
    liar = {"app": "ams", "path": INBOX, "status": 201, "body": '{"result": "accepted"}', "probability": 0.3}
    result, report = loadtest(
        "writeback-ingest",
        "-u",
        "2",
        "-t",
        "2s",
        "-o",
        "bulk=0",
        "-o",
        "invalid=0",
        "-o",
        "resend=0",
        f"--fault={json.dumps(liar)}",
    )

    assert result.exit_code == 1, result.output
    lost = rows(report)["lost"]
    assert lost > 0
    assert report["verdict"]["problems"] == [f"writeback: {lost} acknowledged records were not stored"]
    assert "FAILED:" in result.output


def test_max_error_rate_fails_a_run_whose_requests_failed(loadtest: Any) -> None:
    outage = {"app": "ams", "path": INBOX, "status": 503, "probability": 0.5, "seed": 1}
    result, report = loadtest(
        "writeback-ingest", "-u", "2", "-t", "2s", "--max-error-rate", "0.05", f"--fault={json.dumps(outage)}"
    )

    assert result.exit_code == 1, result.output
    assert rows(report)["lost"] == 0
    [problem] = report["verdict"]["problems"]
    assert problem.startswith("the error rate ") and problem.endswith("passed --max-error-rate 5.00%")


def test_the_request_cap_stops_the_run_early(loadtest: Any) -> None:
    result, report = loadtest("writeback-ingest", "-u", "2", "-t", "60s", "--max-requests", "10")

    assert result.exit_code == 0, result.output
    assert report["stop_reason"] == "request cap of 10 reached"
    assert report["duration_seconds"] < 30
    assert 10 <= report["locust"]["total"]["requests"] < 200


def test_an_existing_tenant_is_loaded_and_its_fault_rules_are_put_back(
    loadtest: Any, sandbox: SandboxClient
) -> None:
    tenant = sandbox.create_tenant(f"own-{uuid.uuid4().hex[:6]}", seed=3, members=20)
    kept = tenant.set_fault({"app": "lms", "path": "/nothing-here", "status": 500})
    rule = {"app": "ams", "path": INBOX, "status": 503, "probability": 0.1}
    result, report = loadtest(
        "writeback-ingest", "-u", "2", "-t", "2s", "--tenant", tenant.tenant_id, f"--fault={json.dumps(rule)}"
    )

    assert result.exit_code == 0, result.output
    assert report["tenant"] == tenant.tenant_id
    assert rows(report)["stored"] > 0
    assert [rule["id"] for rule in tenant.faults()] == [
        kept["id"]
    ]  # the run's rule is gone, the own one kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "{not json"], "--fault '{not json' is not JSON"),
        (["--fault", '{"status": 99}'], "Invalid value for 'status' in --fault"),
        (["-o", "colour=blue"], "writeback-ingest has no option 'colour' (its options: bulk, "),
        (["-o", "bulk=lots"], "--option bulk takes a whole number, not 'lots'."),
        (["-o", "bulk"], "--option takes NAME=VALUE, not 'bulk'."),
        (["--run-time", "0s"], "'0s' must be more than 0 s and at most 24 h."),
        (["--run-time", "soon"], "'soon' is not a duration such as 30s, 5m or 1h30m."),
        (["--tenant", "no-such-tenant-here"], "There is no tenant no-such-tenant-here at "),
    ],
)
def test_bad_usage_is_one_sentence_and_exit_code_2(loadtest: Any, args: list[str], message: str) -> None:
    result, report = loadtest("writeback-ingest", *args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and report is None


def test_a_sandbox_on_another_host_is_refused_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(
        main,
        [
            "loadtest",
            "writeback-ingest",
            "--console-url=http://192.0.2.10:8000",
            "--ams-url=http://192.0.2.10:8001",
        ],
    )

    assert result.exit_code == 2, result.output
    assert (
        "The sandbox's console at http://192.0.2.10:8000 is not on this machine: load tests send traffic to "
        "loopback addresses only, unless you name the host with --host 192.0.2.10." in result.output
    )


def test_exam_day_mixes_every_profile_in_one_tenant_and_reconciles_each(loadtest: Any) -> None:
    result, report = loadtest("exam-day", "-u", "8", "-t", "4s")

    assert result.exit_code == 0, result.output
    titles = [section["title"] for section in report["reconciliation"]]
    assert titles == ["sso", "completion writeback", "writeback", "checkout"]
    assert all(section["passed"] for section in report["reconciliation"])
    classes = {e["name"].split(" ")[0] for e in report["locust"]["endpoints"]}
    assert {"AMS", "LMS", "POST"} <= classes  # browsers and buyers on both apps, connectors at the inbox


def test_exam_day_weights_leave_parts_out_and_bad_weights_are_refused(loadtest: Any) -> None:
    result, report = loadtest("exam-day", "-u", "2", "-t", "2s", "-o", "weights=writeback=1")

    assert result.exit_code == 0, result.output
    assert [section["title"] for section in report["reconciliation"]] == ["writeback"]

    result, report = loadtest("exam-day", "-o", "weights=lunch=2")
    assert result.exit_code == 2 and report is None
    assert "--option weights takes NAME=N pairs of sso, completion, writeback, checkout" in result.output
