"""`sandbox up --worker-class gevent`: the apps served by gunicorn's gevent workers behave as with threads.

gevent workers serve every request of a process on one thread, a greenlet each; what must hold is what a
user sees with thread workers: sign-ins and purchases over real HTTP (the scenarios), fault delays that
hold up only their own request, and connection resets.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
ADMIN_KEY = "sbx_admin_gevent-0123456789abcdefghijklmnopqrst"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


class Sandbox:
    def __init__(self, tmp_path: Path) -> None:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        self.urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
        self.env = clean_env(
            data_dir=str(tmp_path / "data"),
            admin_key=ADMIN_KEY,
            **{f"{app}_port": str(port) for app, port in ports.items()},
        )
        self.group = ProcessGroup.start(
            [*SANDBOX_COMMAND, "up", "--worker-class", "gevent"], self.env, tmp_path / "up"
        )
        self.banner = wait_until(
            lambda: "Ctrl-C" in self.group.stdout and self.group.stdout,
            90,
            lambda: f"`sandbox up` to start\n{self.group.describe()}",
        )

    def put_faults(self, *rules: dict[str, object]) -> None:
        response = httpx.put(
            f"{self.urls['console']}/api/tenants/demo/faults",
            json={"rules": list(rules)},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path)
    try:
        yield running
        assert running.group.interrupt(signal.SIGINT, timeout=30) == 0, running.group.describe()
        assert "Traceback" not in running.group.stderr, running.group.describe()
    finally:
        running.group.kill()


def test_sign_ins_purchases_and_faults_work_on_gevent_workers(sandbox: Sandbox, tmp_path: Path) -> None:
    assert "gevent" in sandbox.banner

    scenarios = [
        SCENARIOS / "01-saml-purchase-immediate-writeback.yaml",
        SCENARIOS / "02-oidc-purchase-next-sign-on.yaml",
        SCENARIOS / "05-ams-outage-during-writeback.yaml",
    ]
    run = subprocess.run(
        [*SANDBOX_COMMAND, "scenario", "run", "--no-start", "--no-store", *map(str, scenarios)],
        env=sandbox.env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    sandbox.put_faults(
        {"app": "lms", "path": "/slow", "delay": {"fixed_ms": 3000}},
        {"app": "ams", "path": "/api/*", "kind": "connection_reset"},
    )
    lms = sandbox.urls["lms"]
    slow: list[int] = []
    delayed = threading.Thread(
        target=lambda: slow.append(httpx.get(f"{lms}/t/demo/slow", timeout=30).status_code)
    )
    delayed.start()
    try:
        time.sleep(0.5)  # the delayed request is in the LMS (it holds it for 3 s)
        assert httpx.get(f"{lms}/t/demo/me", timeout=10).status_code == 401
        assert delayed.is_alive(), "the LMS answered another request only after the delayed one"
    finally:
        delayed.join(30)
    assert slow == [404]  # the LMS's own answer, after the delay

    with pytest.raises(httpx.ReadError):
        httpx.get(f"{sandbox.urls['ams']}/t/demo/api/members", timeout=10)
    assert httpx.get(f"{sandbox.urls['ams']}/healthz", timeout=10).status_code == 200
