"""`sandbox up` supervises its processes: what dies is restarted while the rest keeps serving, the
control API lists and steers them, a crash loop stops the sandbox with a plain message, and Ctrl-C
still leaves nothing behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
ADMIN_KEY = "sbx_admin_supervision-0123456789abcdefghijkl"


@dataclass
class Sandbox:
    group: ProcessGroup
    urls: dict[str, str]

    def api(self, method: str, path: str, key: str = ADMIN_KEY, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.request(
            method, f"{self.urls['console']}/api{path}", headers=headers, timeout=10, **kwargs
        )

    def processes(self) -> dict[str, dict[str, Any]]:
        response = self.api("GET", "/processes")
        assert response.status_code == 200, response.text
        return {process["name"]: process for process in response.json()["processes"]}

    def healthy(self, app: str, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.urls[app]}/healthz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.group.process.poll() is None, self.group.describe()
            return all(self.healthy(app) for app in APPS) and "Ctrl-C" in self.group.stdout

        wait_until(ready, 60, "the sandbox to be up")

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 20.0) -> dict[str, Any]:
        def restarted() -> dict[str, Any] | None:
            process = self.processes()[name]
            return (
                process if process["pid"] not in (None, old_pid) and process["state"] == "running" else None
            )

        return wait_until(restarted, timeout, lambda: f"{name} to be restarted\n{self.group.describe()}")


Start = Callable[..., Sandbox]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[ProcessGroup] = []

    def start_sandbox(*flags: str) -> Sandbox:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        env = clean_env(data_dir=str(tmp_path / "data"), admin_key=ADMIN_KEY, worker_poll_seconds="0.2")
        command = [
            *SANDBOX_COMMAND,
            "up",
            "--no-demo",
            *(f"--{a}-port={p}" for a, p in ports.items()),
            *flags,
        ]
        group = ProcessGroup.start(command, env, tmp_path / f"run{len(started)}")
        started.append(group)
        sandbox = Sandbox(group, {app: f"http://127.0.0.1:{port}" for app, port in ports.items()})
        sandbox.wait_ready()
        return sandbox

    yield start_sandbox
    for group in started:
        group.kill()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_worker_is_restarted_and_the_apps_keep_serving(start: Start) -> None:
    sandbox = start("--workers", "2")
    before = sandbox.processes()
    assert sorted(before) == ["ams", "console", "lms", "worker-1", "worker-2"]
    assert all(p["state"] == "running" and p["restarts"] == 0 for p in before.values())

    os.kill(before["worker-2"]["pid"], signal.SIGKILL)  # from outside, as a crash would
    assert all(sandbox.healthy(app) for app in APPS)
    after = sandbox.wait_restarted("worker-2", before["worker-2"]["pid"])

    assert after["restarts"] == 1 and after["last_exit"] == "killed by SIGKILL"
    processes = sandbox.processes()
    assert processes["ams"]["pid"] == before["ams"]["pid"] and processes["worker-1"]["restarts"] == 0
    assert "worker-2 stopped unexpectedly (killed by SIGKILL)" in sandbox.group.stderr
    pids = [process["pid"] for process in processes.values()]
    assert sandbox.group.interrupt(signal.SIGINT) == 0, sandbox.group.describe()
    assert not [pid for pid in pids if alive(pid)]


def test_the_control_api_kills_pauses_resumes_and_restarts(start: Start) -> None:
    sandbox = start()
    before = sandbox.processes()

    killed = sandbox.api("POST", "/processes/ams/kill", json={"signal": "KILL"})
    assert killed.status_code == 200, killed.text
    after = sandbox.wait_restarted("ams", before["ams"]["pid"])
    assert after["last_exit"] == "killed by SIGKILL"
    wait_until(lambda: sandbox.healthy("ams"), 20, "the AMS to answer again")

    assert sandbox.api("POST", "/processes/lms/pause", json={}).json()["state"] == "paused"
    assert not sandbox.healthy("lms", timeout=1.0)
    assert sandbox.api("POST", "/processes/lms/resume").json()["state"] == "running"
    assert sandbox.healthy("lms")
    assert sandbox.api("POST", "/processes/lms/pause", json={"seconds": 1}).status_code == 200
    wait_until(lambda: sandbox.processes()["lms"]["state"] == "running", 10, "the pause to end by itself")

    worker_pid = sandbox.processes()["worker-1"]["pid"]
    assert sandbox.api("POST", "/processes/worker/restart").status_code == 200
    restarted = sandbox.wait_restarted("worker-1", worker_pid)
    assert restarted["last_exit"] == "exited with status 0"
    assert "worker-1 exited with status 0; restarting it as asked" in sandbox.group.stderr

    started_kill = time.monotonic()
    assert sandbox.api("POST", "/processes/worker/kill", json={"after_seconds": 1}).status_code == 200
    assert time.monotonic() - started_kill < 1.0  # the call does not wait for the kill
    sandbox.wait_restarted("worker-1", restarted["pid"])

    assert sandbox.api("POST", "/processes/console/kill", json={}).status_code == 409
    assert sandbox.api("POST", "/processes/nope/kill", json={}).json()["code"] == "process_not_found"
    assert sandbox.api("POST", "/processes/ams/kill", json={"signal": "HUP"}).status_code == 422
    tenant = sandbox.api("POST", "/tenants", json={"id": "acme"}).json()
    assert sandbox.api("GET", "/processes", key=tenant["api_key"]).status_code == 403
    assert sandbox.group.interrupt(signal.SIGINT) == 0, sandbox.group.describe()


def test_ctrl_c_stops_every_process_it_started(start: Start) -> None:
    sandbox = start("--workers", "3")
    pids = [p["pid"] for p in sandbox.processes().values()]
    assert sandbox.api("POST", "/processes/worker-3/pause", json={}).status_code == 200  # even a frozen one

    assert sandbox.group.interrupt(signal.SIGINT) == 0, sandbox.group.describe()

    assert not [pid for pid in pids if alive(pid)]
    assert "Traceback" not in sandbox.group.stderr


def test_a_process_that_keeps_dying_stops_the_sandbox_with_a_plain_message(start: Start) -> None:
    sandbox = start()

    def running_worker() -> dict[str, Any] | None:
        process = sandbox.processes()["worker-1"]
        return process if process["state"] == "running" else None

    for _ in range(4):
        process = wait_until(running_worker, 30, "worker-1 to run")
        os.kill(process["pid"], signal.SIGKILL)
        sandbox.wait_restarted("worker-1", process["pid"])
    os.kill(wait_until(running_worker, 30, "worker-1 to run")["pid"], signal.SIGKILL)

    code = sandbox.group.process.wait(30)

    assert code == 1
    assert "worker-1 stopped 5 times within 60 s (last: killed by SIGKILL); stopping the sandbox" in (
        sandbox.group.stderr
    )
    assert "Traceback" not in sandbox.group.stderr


def test_no_worker_runs_only_the_apps(start: Start) -> None:
    sandbox = start("--no-worker")
    assert sorted(sandbox.processes()) == ["ams", "console", "lms"]
    assert sandbox.group.interrupt(signal.SIGINT) == 0
