"""`sandbox faults list|add|clear` and `sandbox journal tail`, run through click on a temporary database.

The rules these commands write are the ones the AMS and LMS apply, so each test checks what a user would
see: the app misbehaving, the table counting it, the journal line naming the fault.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.config import SandboxConfig
from simulator.console import service
from simulator.core import faults
from simulator.core.db import Database

INBOX_DOWN = [
    "--name", "inbox down", "--app", "ams", "--method", "POST", "--path", "/writeback/records",
    "--status", "503", "--retry-after", "60",
]  # fmt: skip


@pytest.fixture
def acme(db: Database, config: SandboxConfig) -> str:
    service.create_seeded_tenant(db, config, "acme")
    return "acme"


@pytest.fixture
def sandbox(config: SandboxConfig) -> Any:
    """Run ``sandbox ARGS… --database-url … --data-dir …`` in-process; returns click's result."""
    flags = ["--database-url", config.resolved_database_url, "--data-dir", str(config.data_dir)]

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, *flags], env={"COLUMNS": "200"})

    return run


def table_rows(output: str) -> dict[str, list[str]]:
    """The rows of a printed table, by their first cell (the id), as lists of cells."""
    rows = {}
    for line in output.splitlines():
        cells = [cell for cell in line.strip().split("  ") if cell.strip()]
        if cells and cells[0].strip().isdigit():
            rows[cells[0].strip()] = [cell.strip() for cell in cells]
    return rows


# --- faults ----------------------------------------------------------------------------------------------


def test_a_rule_added_from_options_faults_the_app_and_is_listed_with_its_counts(
    sandbox: Any, acme: str, ams: Any
) -> None:
    added = sandbox("faults", "add", "--tenant", acme, *INBOX_DOWN)
    assert added.exit_code == 0, added.output
    assert "Added fault rule" in added.output

    response = ams.post("/t/acme/writeback/records", json={})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"

    listed = sandbox("faults", "list", "--tenant", acme)
    assert listed.exit_code == 0, listed.output
    [row] = table_rows(listed.output).values()
    assert row[1:] == [
        "inbox down",
        "ams POST /writeback/records",
        "status 503, Retry-After 60",
        "always",
        "1",
        "1",
    ]


def test_options_and_json_store_the_same_rule_as_the_api_would(sandbox: Any, acme: str, db: Database) -> None:
    document = {
        "name": "slow directory", "app": "ams", "path": "/api/members*", "status": 500,
        "delay": {"lognormal": {"median_ms": 300, "sigma": 0.5}}, "probability": 0.25, "seed": 7,
        "every_nth": 2, "headers": {"X-Trace": "on"},
    }  # fmt: skip
    from_options = sandbox(
        "faults", "add", "--tenant", acme, "--name", "slow directory", "--app", "ams", "--path",
        "/api/members*", "--status", "500", "--delay-ms", "300", "--delay-sigma", "0.5", "--probability",
        "0.25", "--seed", "7", "--every-nth", "2", "--header", "X-Trace: on",
    )  # fmt: skip
    from_json = sandbox("faults", "add", "--tenant", acme, "--json", json.dumps(document))
    assert from_options.exit_code == 0, from_options.output
    assert from_json.exit_code == 0, from_json.output

    stored = [rule["rule"] for rule in faults.list_rules(db, acme)]
    expected = faults.parse_rule(document).model_dump(mode="json", exclude_none=True)
    assert stored == [expected, expected]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--status", "700"],
            "Error: Invalid value for --status: Input should be less than or equal to 599.",
        ),
        (
            ["--app", "crm", "--status", "503"],
            "Error: Invalid value for --app: Input should be 'ams' or 'lms'.",
        ),
        (["--delay-sigma", "0.5"], "Error: Invalid value for --delay-ms: Input should be a valid number."),
        (
            ["--status", "503", "--first-n", "2", "--every-nth", "3"],
            "Error: Invalid fault rule: give either 'first_n' or 'every_nth', not both.",
        ),
        (
            ["--delay-ms", "10", "--body", "down"],
            "Error: Invalid fault rule: 'body', 'headers' and 'retry_after' need a 'status' or a 'kind'.",
        ),
        (
            ["--json", '{"status": 503, "delay": {"lognormal": {"median_ms": 5, "sigma": 9}}}'],
            "Error: Invalid value for 'delay.lognormal.sigma' in --json: Input should be less than or equal",
        ),
        (["--json", '{"status": 503'], "Error: Invalid value for '--json': not valid JSON"),
        (["--json", "[]"], "Error: Invalid value for '--json': give one JSON object"),
        (
            ["--json", '{"status": 503}', "--app", "ams"],
            "Error: Give the rule either as --json or as options",
        ),
        (["--status", "503", "--header", "X-Trace"], "Error: Invalid value for '--header': 'X-Trace' is not"),
        ([], "Error: Describe the rule with options (see --help) or --json."),
    ],
)
def test_a_bad_rule_is_one_sentence_naming_the_option_and_changes_nothing(
    sandbox: Any, acme: str, db: Database, args: list[str], message: str
) -> None:
    result = sandbox("faults", "add", "--tenant", acme, *args)

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert faults.list_rules(db, acme) == []


def test_clear_removes_one_rule_by_id_or_all_of_them(sandbox: Any, acme: str, db: Database) -> None:
    for status in ("500", "502", "503"):
        assert sandbox("faults", "add", "--tenant", acme, "--status", status).exit_code == 0
    first, second, third = (rule["id"] for rule in faults.list_rules(db, acme))

    one = sandbox("faults", "clear", "--tenant", acme, "--id", str(second))
    assert one.output == f"Removed fault rule {second} of tenant 'acme'.\n"
    assert [rule["id"] for rule in faults.list_rules(db, acme)] == [first, third]

    missing = sandbox("faults", "clear", "--tenant", acme, "--id", str(second))
    assert missing.exit_code == 1
    assert missing.output == f"Error: Tenant 'acme' has no fault rule {second}.\n"

    everything = sandbox("faults", "clear", "--tenant", acme)
    assert everything.output == "Removed 2 fault rules of tenant 'acme'.\n"
    assert sandbox("faults", "list", "--tenant", acme).output == "Tenant 'acme' has no fault rules.\n"


@pytest.mark.parametrize(
    "command",
    [
        ["faults", "list"],
        ["faults", "add", "--status", "503"],
        ["faults", "clear"],
        ["journal", "tail"],
        ["journal", "tail", "--follow"],
    ],
)
def test_an_unknown_tenant_is_a_plain_sentence(sandbox: Any, acme: str, command: list[str]) -> None:
    result = sandbox(*command, "--tenant", "nobody")

    assert result.exit_code == 1
    assert result.output == "Error: There is no tenant 'nobody'.\n"


# --- journal ---------------------------------------------------------------------------------------------


def test_tail_prints_the_newest_entries_oldest_first_one_line_each(sandbox: Any, acme: str, ams: Any) -> None:
    for number in range(5):
        ams.get(f"/t/acme/page-{number}?q={number}")

    result = sandbox("journal", "tail", "--tenant", acme, "--limit", "3")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[3] for line in lines] == [
        "/t/acme/page-2?q=2",
        "/t/acme/page-3?q=3",
        "/t/acme/page-4?q=4",
    ]
    at, app, method, _path, status, latency, unit = lines[0].split()
    assert (app, method, status, unit) == ("ams", "GET", "404", "ms")
    assert at.endswith("Z")
    assert float(latency) >= 0


def test_tail_filters_and_names_the_fault_that_fired(sandbox: Any, acme: str, ams: Any, lms: Any) -> None:
    assert sandbox("faults", "add", "--tenant", acme, *INBOX_DOWN).exit_code == 0
    ams.post("/t/acme/writeback/records", json={})
    ams.get("/t/acme/elsewhere")
    lms.get("/t/acme/elsewhere")

    def tail(*filters: str) -> list[str]:
        result = sandbox("journal", "tail", "--tenant", acme, *filters)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    [faulted] = tail("--status", "503")
    assert " POST " in faulted
    assert faulted.endswith("fault: inbox down")
    assert [line.split()[1] for line in tail("--path", "/elsewhere")] == ["ams", "lms"]
    assert [line.split()[3] for line in tail("--app", "lms")] == ["/t/acme/elsewhere"]
    assert len(tail("--method", "post")) == 1
    assert tail("--status", "418") == []


def test_tail_json_prints_one_control_api_entry_per_line(sandbox: Any, acme: str, ams: Any) -> None:
    ams.get("/t/acme/first")
    ams.get("/t/acme/second")

    result = sandbox("journal", "tail", "--tenant", acme, "--json")

    entries = [json.loads(line) for line in result.output.splitlines()]
    assert [entry["path"] for entry in entries] == ["/t/acme/first", "/t/acme/second"]
    assert {"id", "at", "status", "latency_ms", "fault", "request_headers"} <= entries[0].keys()


def test_tail_starts_with_the_newest_matching_entries(sandbox: Any, acme: str, ams: Any) -> None:
    ams.get("/t/acme/other")
    for number in range(7):
        ams.get(f"/t/acme/page-{number}")

    result = sandbox("journal", "tail", "--tenant", acme, "--limit", "3", "--path", "/page-*")

    assert [line.split()[3] for line in result.output.splitlines()] == [
        "/t/acme/page-4", "/t/acme/page-5", "/t/acme/page-6"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "crm"], "Error: Invalid value for --app: Input should be 'ams', 'lms' or 'console'."),
        (["--limit", "0"], "Error: Invalid value for --limit: Input should be greater than or equal to 1."),
        (
            ["--status", "42"],
            "Error: Invalid value for --status: Input should be greater than or equal to 100.",
        ),
    ],
)
def test_a_bad_filter_is_one_sentence_naming_the_option(
    sandbox: Any, acme: str, args: list[str], message: str
) -> None:
    result = sandbox("journal", "tail", "--tenant", acme, *args)

    assert result.exit_code != 0
    assert result.output == message + "\n"


def test_help_lists_the_new_command_families() -> None:
    overview = CliRunner().invoke(main, ["--help"]).output

    assert "faults " in overview
    assert "journal " in overview
    assert "--follow / --no-follow" in CliRunner().invoke(main, ["journal", "tail", "--help"]).output
