"""Table-printing commands (`outbox list`, `tenant list`, `faults list`, `config`) when stdout is not a
terminal (a pipe, a CI log): every value appears in full, and `--json` prints the same data as one JSON
document.

click's CliRunner is not a terminal, as a CI job's stdout is not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.core.outbox import add_endpoint, enqueue
from simulator.core.tenancy import create_tenant

LONG_NAME = "The Association of Continuing Professional Education Providers, Northern Region Chapter"
LONG_TOPIC = "writeback.records.continuing-education.transcript.credits-awarded"
LONG_ENDPOINT = "ams-writeback-continuing-education-transcript-north"
LONG_PATH = "/writeback/records/continuing-education/transcripts/northern-region/*"


@pytest.fixture(autouse=True)
def no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """No COLUMNS from the shell running the tests: the width is what the command decides."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def sandbox(config: SandboxConfig) -> Any:
    """Run ``sandbox ARGS… --database-url … --data-dir …`` in-process; returns click's result."""
    flags = ["--database-url", config.resolved_database_url, "--data-dir", str(config.data_dir)]

    def run(*args: str) -> Result:
        result = CliRunner().invoke(main, [*args, *flags])
        assert result.exit_code == 0, result.output
        return result

    return run


@pytest.fixture
def acme(db: Database) -> str:
    """Tenant ``acme`` with a long name and one queued message with a long topic and endpoint name."""
    with db.session() as session:
        create_tenant(session, "acme", name=LONG_NAME)
        add_endpoint(session, "acme", LONG_ENDPOINT, "http://127.0.0.1:9/hook")
        enqueue(session, "acme", endpoint=LONG_ENDPOINT, topic=LONG_TOPIC, message_id="wb_1", payload={})
    return "acme"


def test_outbox_list_prints_long_topics_and_endpoints_in_full(sandbox: Any, acme: str) -> None:
    output = sandbox("outbox", "list", "--tenant", acme).output

    assert LONG_TOPIC in output
    assert LONG_ENDPOINT in output
    assert "…" not in output


def test_outbox_list_json_is_the_listing_as_one_document(sandbox: Any, acme: str) -> None:
    listing = json.loads(sandbox("outbox", "list", "--tenant", acme, "--json").output)

    [item] = listing["items"]
    assert (item["topic"], item["endpoint"], item["state"]) == (LONG_TOPIC, LONG_ENDPOINT, "pending")
    assert listing["counts"] == {"pending": 1}


def test_tenant_list_prints_long_names_in_full(sandbox: Any, acme: str) -> None:
    output = sandbox("tenant", "list").output

    assert LONG_NAME in output
    assert "…" not in output


def test_tenant_list_json_is_the_tenants_as_one_document(sandbox: Any, acme: str) -> None:
    document = json.loads(sandbox("tenant", "list", "--json").output)

    assert [(tenant["id"], tenant["name"]) for tenant in document["tenants"]] == [("acme", LONG_NAME)]


def test_tenant_list_json_of_no_tenants_is_an_empty_list(sandbox: Any, db: Database) -> None:
    assert json.loads(sandbox("tenant", "list", "--json").output) == {"tenants": []}


def test_faults_list_prints_long_paths_in_full_and_as_json(sandbox: Any, acme: str) -> None:
    sandbox(
        "faults",
        "add",
        "--tenant",
        acme,
        "--name",
        LONG_NAME,
        "--app",
        "ams",
        "--path",
        LONG_PATH,
        "--status",
        "503",
    )

    output = sandbox("faults", "list", "--tenant", acme).output
    assert f"ams ANY {LONG_PATH}" in output
    assert LONG_NAME in output
    assert "…" not in output

    [rule] = json.loads(sandbox("faults", "list", "--tenant", acme, "--json").output)["rules"]
    assert (rule["rule"]["name"], rule["rule"]["path"]) == (LONG_NAME, LONG_PATH)


def test_config_json_lists_every_setting_with_its_variable_and_default() -> None:
    result = CliRunner().invoke(main, ["config", "--json"])

    assert result.exit_code == 0, result.output
    settings = {item["variable"]: item for item in json.loads(result.output)["settings"]}
    assert settings["SANDBOX_AMS_PORT"]["default"] == "8001"
    assert settings["SANDBOX_ADMIN_KEY"]["default"] is None
