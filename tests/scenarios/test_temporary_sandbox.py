"""When nothing answers at the configured console, `sandbox scenario run` starts a temporary sandbox,
runs against it, and stops it again: no process of it is left behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from simulator.scenario.cli import scenario
from simulator.scenario.target import free_ports
from tests.scenarios.conftest import SCENARIOS_DIR

pytestmark = pytest.mark.e2e


def processes_marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SCENARIO_TEST_MARK") == mark:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def test_run_starts_and_stops_a_temporary_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    monkeypatch.setenv("SCENARIO_TEST_MARK", mark)  # inherited by every process of the temporary sandbox
    for name, port in zip(("CONSOLE", "AMS", "LMS"), free_ports(3), strict=True):
        monkeypatch.setenv(f"SANDBOX_{name}_PORT", str(port))  # nothing listens there
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(scenario, ["run", str(SCENARIOS_DIR / "13-token-handoff-sign-in.yaml")])

    assert result.exit_code == 0, result.output
    assert "PASS 7/7 steps" in result.output
    assert processes_marked(mark) == []
    assert not (tmp_path / "data").exists()  # the configured data folder was never touched
