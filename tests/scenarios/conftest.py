"""A real sandbox for the scenario tests: ``sandbox up --no-demo`` (gunicorn apps and a worker process)
on free 127.0.0.1 ports with a temporary SQLite folder, started once per test session — the same
temporary sandbox ``sandbox scenario run`` starts when nothing answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.scenario.client import SandboxClient
from simulator.scenario.target import temporary_sandbox

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxClient]:
    with temporary_sandbox() as client:
        yield client


@pytest.fixture
def sandbox_env(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SandboxClient:
    """Point the sandbox configuration (SANDBOX_* environment) at the session's sandbox, as a user would."""
    for name in ("console", "ams", "lms"):
        url = getattr(sandbox, f"{name}_url")
        monkeypatch.setenv(f"SANDBOX_{name.upper()}_PORT", url.rsplit(":", 1)[1])
    monkeypatch.setenv("SANDBOX_ADMIN_KEY", sandbox.key)
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SANDBOX_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return sandbox
