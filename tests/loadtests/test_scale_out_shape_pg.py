"""The load profiles run unchanged against the scale-out shape: PostgreSQL, `sandbox serve` with two gunicorn
processes per app, and two `sandbox worker` processes — and reconcile clean there too."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def scale_out(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The console, AMS (2 processes) and LMS (2 processes) served by gunicorn, plus 2 delivery workers."""
    ports = dict(zip(("console", "ams", "lms"), free_ports(3), strict=True))
    admin_key = "sbx_admin_" + secrets.token_urlsafe(16)
    env = clean_env(
        database_url=postgres_url,
        data_dir=str(tmp_path / "data"),
        admin_key=admin_key,
        worker_poll_seconds="0.1",
        log_level="WARNING",
        **{f"{app}_port": str(port) for app, port in ports.items()},
    )
    subprocess.run([*SANDBOX_COMMAND, "migrate"], env=env, check=True, capture_output=True)
    commands = {
        "console": ["serve", "console"],
        "ams": ["serve", "ams", "--workers", "2"],
        "lms": ["serve", "lms", "--workers", "2"],
        "worker-1": ["worker"],
        "worker-2": ["worker"],
    }
    groups = {
        name: ProcessGroup.start([*SANDBOX_COMMAND, *args], env, tmp_path / name)
        for name, args in commands.items()
    }
    urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
    try:
        for app, url in urls.items():
            wait_until(lambda url=url: _healthy(url), 60, lambda app=app: groups[app].describe())
        yield {**urls, "admin_key": admin_key}
        for name, group in groups.items():
            assert group.interrupt(signal.SIGTERM, timeout=20) == 0, name
    finally:
        for group in groups.values():
            group.kill()


def run_profile(urls: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "loadtest",
            *args,
            f"--console-url={urls['console']}",
            f"--ams-url={urls['ams']}",
            f"--lms-url={urls['lms']}",
            f"--admin-key={urls['admin_key']}",
            "--json",
            str(report),
        ],
    )
    return result.exit_code, result.output, json.loads(report.read_text())


def test_the_load_profiles_run_unchanged_against_the_postgresql_scale_out_shape(
    scale_out: dict[str, str], tmp_path: Path
) -> None:
    code, output, report = run_profile(scale_out, tmp_path, "completion-storm", "-u", "4", "-t", "4s")

    assert code == 0, output
    [section] = report["reconciliation"]
    values = {row["measure"]: row["value"] for row in section["rows"]}
    assert values["courses passed"] > 0
    assert values["stored at the AMS"] >= values["courses passed"]
    assert values["lost"] == values["duplicated"] == values["outbox dead letters"] == 0

    code, output, report = run_profile(scale_out, tmp_path, "writeback-ingest", "-u", "4", "-t", "3s")

    assert code == 0, output
    assert report["verdict"] == {"passed": True, "problems": []}
