"""`sandbox up` as a newcomer runs it: one command, three apps and a worker, Ctrl-C stops everything."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from openapi_spec_validator import validate

from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
PROBLEM = "application/problem+json"
ADMIN_KEY = "sbx_admin_e2e-0123456789abcdefghijklmnopqrstuv"  # as long as a generated key


@dataclass
class RunningSandbox:
    group: ProcessGroup
    urls: dict[str, str]

    def get(self, app: str, path: str, key: str | None = ADMIN_KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.urls[app] + path, headers=headers, timeout=10)

    def health(self, app: str) -> dict[str, Any] | None:
        try:
            response = self.get(app, "/healthz", key=None)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_ready(self, timeout: float = 60.0) -> str:
        """Wait until the three apps answer /healthz and the banner is out; returns the banner."""

        def all_healthy() -> bool:
            assert self.group.process.poll() is None, f"`sandbox up` exited early\n{self.group.describe()}"
            return all(self.health(app) for app in APPS)

        wait_until(all_healthy, timeout, "the three apps to answer /healthz")
        return wait_until(lambda: "Ctrl-C" in self.group.stdout and self.group.stdout, 10, "the banner")

    def stop_with_ctrl_c(self) -> int:
        return self.group.interrupt(signal.SIGINT, timeout=20)


StartSandbox = Callable[..., RunningSandbox]


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[StartSandbox]:
    """Start `sandbox up` on free ports: ``start_sandbox(data_dir, "--database-url", url)``."""
    started: list[ProcessGroup] = []

    def start(data_dir: Path, *flags: str, admin_key: str | None = ADMIN_KEY) -> RunningSandbox:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        settings = {"data_dir": str(data_dir)} | ({"admin_key": admin_key} if admin_key else {})
        command = [*SANDBOX_COMMAND, "up", *(f"--{app}-port={port}" for app, port in ports.items()), *flags]
        group = ProcessGroup.start(command, clean_env(**settings), tmp_path / f"run{len(started)}")
        started.append(group)
        return RunningSandbox(group, {app: f"http://127.0.0.1:{port}" for app, port in ports.items()})

    yield start
    for group in started:
        group.kill()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    return body


def test_up_serves_three_apps_with_the_demo_tenant_and_stops_on_ctrl_c(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox(tmp_path / "data")
    banner = sandbox.wait_ready()

    for app in APPS:
        health = sandbox.health(app)
        assert health is not None
        assert health["app"] == app
        assert health["database"] == "ok"
        assert re.fullmatch(r"\d+\.\d+\.\d+.*", health["version"])
    assert sandbox.get("console", "/api/tenants/demo").json()["id"] == "demo"
    assert assert_problem(sandbox.get("ams", "/t/nope/api/members"), 404)["code"] == "tenant_not_found"
    assert assert_problem(sandbox.get("console", "/api/tenants/nope"), 404)["code"] == "tenant_not_found"
    for app in APPS:
        validate(sandbox.get(app, "/openapi.json", key=None).json())

    for url in sandbox.urls.values():
        assert url in banner
    assert ADMIN_KEY not in banner  # a key the user set is not echoed into what may be logged
    assert "the one SANDBOX_ADMIN_KEY sets" in banner

    assert sandbox.stop_with_ctrl_c() == 0, sandbox.group.describe()
    assert "Traceback" not in sandbox.group.stderr


def test_a_restart_reuses_the_database_the_admin_key_and_the_demo_tenant(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = start_sandbox(data_dir, admin_key=None)
    generated_key = re.search(r"sbx_admin_\S+", first.wait_ready())
    assert generated_key, first.group.describe()
    created_at = first.get("console", "/api/tenants/demo", key=generated_key[0]).json()["created_at"]
    assert first.stop_with_ctrl_c() == 0, first.group.describe()

    second = start_sandbox(data_dir, admin_key=None)
    second.wait_ready()
    demo = second.get("console", "/api/tenants/demo", key=generated_key[0])
    assert demo.status_code == 200, demo.text
    assert demo.json()["created_at"] == created_at
    assert second.stop_with_ctrl_c() == 0, second.group.describe()


def test_up_runs_on_postgresql(postgres_url: str, start_sandbox: StartSandbox, tmp_path: Path) -> None:
    """(``postgres_url`` comes first so that its schema is dropped only after the sandbox stopped.)"""
    sandbox = start_sandbox(tmp_path / "data", f"--database-url={postgres_url}")
    sandbox.wait_ready()

    for app in APPS:
        assert sandbox.health(app) == {"app": app, "version": ANY, "database": "ok"}
    assert sandbox.get("console", "/api/tenants/demo").status_code == 200
    assert sandbox.stop_with_ctrl_c() == 0, sandbox.group.describe()
