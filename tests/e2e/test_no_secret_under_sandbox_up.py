"""No secret in the clear after the library scenarios that kill and pause processes, under `sandbox up`.

tests/http/test_no_secret_in_the_clear.py runs the rest of the library against apps served in threads;
the scenarios with ``kill``, ``pause``, ``resume`` or ``restart`` steps (14 and 15) need the processes
of a real ``sandbox up``. They run here, and then the same scan reads the database (its dump, the raw
file and its WAL) and everything every process printed.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from simulator.config import load_config
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.scenario.loader import load_scenario
from simulator.scenario.packaged import library_files
from simulator.scenario.runner import run_scenario
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN_KEY
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.http.test_no_secret_in_the_clear import (
    PROCESS_STEPS,
    RecordingClient,
    Sandbox,
    database_dump,
    secrets_in_use,
)

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
PROCESS_SCENARIOS = [path for path in library_files() if PROCESS_STEPS.search(path.read_text())]


def test_the_scenarios_that_kill_processes_leave_no_secret_in_the_clear(tmp_path: Path) -> None:
    assert len(PROCESS_SCENARIOS) >= 2, [path.name for path in PROCESS_SCENARIOS]
    data_dir = tmp_path / "data"
    ports = dict(zip(APPS, free_ports(3), strict=True))
    urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
    env = clean_env(data_dir=str(data_dir), admin_key=ADMIN_KEY, worker_poll_seconds="0.2")
    command = [*SANDBOX_COMMAND, "up", "--no-demo", *(f"--{app}-port={port}" for app, port in ports.items())]
    group = ProcessGroup.start(command, env, tmp_path / "up")
    client = RecordingClient(urls["console"], urls["ams"], urls["lms"], ADMIN_KEY)
    try:
        wait_until(lambda: "Ctrl-C" in group.stdout, 60, group.describe)
        for path in PROCESS_SCENARIOS:
            result = run_scenario(load_scenario(path), client, keep_tenant=True)
            assert result.ok, (path.name, result.to_json())
        assert group.interrupt(signal.SIGINT, timeout=30) == 0, group.describe()
        config = load_config(env={}, overrides={"data_dir": str(data_dir), "admin_key": ADMIN_KEY})
        db = Database(config.resolved_database_url)
        secrets_at_rest.configure(config, db)
        try:
            secrets = secrets_in_use(Sandbox(config, db, client))
            places = {"the database": database_dump(db), "what the processes printed": group.describe()}
        finally:
            db.dispose()
    finally:
        client.close()
        group.kill()

    assert secrets["a private key's body"] and secrets["a tenant API key"] and secrets["a webhook secret"]
    assert secrets_at_rest.ENCRYPTED_PREFIX in places["the database"]
    for what, values in secrets.items():
        for value in values:
            for place, text in places.items():
                assert value not in text, f"{what} is in {place} in the clear"
