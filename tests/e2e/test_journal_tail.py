"""`sandbox journal tail --follow` as a real process: it prints requests as a served AMS journals them,
and Ctrl-C ends it cleanly, like `tail -f`."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from simulator.config import SandboxConfig
from simulator.console import service
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.helpers.servers import serving

pytestmark = pytest.mark.e2e


def test_follow_prints_each_new_request_and_stops_cleanly_on_ctrl_c(
    config: SandboxConfig, db: Database, tmp_path: Path
) -> None:
    from simulator.ams.app import create_app

    service.create_seeded_tenant(db, config, "acme")
    [port] = free_ports(1)
    with serving((port, create_app(config, db))):
        httpx.get(f"http://127.0.0.1:{port}/t/acme/before-tail")
        tail = ProcessGroup.start(
            [
                *SANDBOX_COMMAND, "journal", "tail", "--tenant", "acme", "--limit", "1", "--follow",
                "--database-url", config.resolved_database_url, "--data-dir", str(config.data_dir),
            ],
            clean_env(),
            tmp_path / "tail",
        )  # fmt: skip
        try:
            wait_until(lambda: "/t/acme/before-tail" in tail.stdout, 30, tail.describe)

            httpx.get(f"http://127.0.0.1:{port}/t/acme/while-following", params={"n": "1"})
            wait_until(lambda: "/t/acme/while-following?n=1" in tail.stdout, 30, tail.describe)

            assert tail.interrupt(signal.SIGINT) == 0
        finally:
            tail.kill()

    lines = tail.stdout.splitlines()
    assert [line.split()[3] for line in lines] == ["/t/acme/before-tail", "/t/acme/while-following?n=1"]
    assert "Traceback" not in tail.stderr
    assert "Aborted" not in tail.stderr


def test_follow_stops_quietly_when_its_reader_goes_away(config: SandboxConfig, db: Database) -> None:
    """`sandbox journal tail -f | head -1`: once the pipe closes, the next line ends the command, with
    no broken-pipe traceback."""
    from simulator.ams.app import create_app

    service.create_seeded_tenant(db, config, "acme")
    [port] = free_ports(1)
    with serving((port, create_app(config, db))):
        httpx.get(f"http://127.0.0.1:{port}/t/acme/before-tail")
        tail = subprocess.Popen(
            [
                *SANDBOX_COMMAND, "journal", "tail", "--tenant", "acme", "--limit", "1", "--follow",
                "--database-url", config.resolved_database_url, "--data-dir", str(config.data_dir),
            ],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert tail.stdout is not None
            assert "/t/acme/before-tail" in tail.stdout.readline().decode()
            tail.stdout.close()

            httpx.get(f"http://127.0.0.1:{port}/t/acme/after-the-reader-left")
            assert tail.wait(timeout=30) == 0
        finally:
            tail.kill()
            tail.wait()
    assert tail.stderr is not None
    errors = tail.stderr.read().decode()
    tail.stderr.close()
    assert "Traceback" not in errors
    assert "BrokenPipe" not in errors
