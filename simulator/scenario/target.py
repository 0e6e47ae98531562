"""Where scenarios run: the configured sandbox, or a temporary one started for the run.

When nothing answers at the configured console URL, :func:`sandbox_target` starts ``sandbox up
--no-demo`` on free 127.0.0.1 ports with a temporary data folder (SQLite) and its own admin key, waits
until the three apps answer, and stops the whole process group afterwards — nothing is left behind.
Its worker delivers writebacks and webhooks as the configured sandbox's would.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx

from simulator.config import ENV_PREFIX, SandboxConfig
from simulator.core.errors import SandboxError
from simulator.scenario.client import SandboxClient

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
APPS = ("console", "ams", "lms")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (the OS picks them)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextmanager
def sandbox_target(config: SandboxConfig, start_if_down: bool = True) -> Iterator[SandboxClient]:
    """A client for the configured sandbox, or for a temporary one when nothing answers there."""
    if _answers(config.console_url):
        with SandboxClient.from_config(config) as client:
            yield client
        return
    if not start_if_down:
        raise SandboxError(f"Nothing answers at {config.console_url}: start the sandbox with `sandbox up`.")
    with temporary_sandbox() as temporary:
        yield temporary


@contextmanager
def temporary_sandbox(worker_poll_seconds: float = 0.2) -> Iterator[SandboxClient]:
    """Start ``sandbox up --no-demo`` in a temporary folder on free ports; stop it for sure afterwards."""
    with tempfile.TemporaryDirectory(prefix="sandbox-scenario-") as folder:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        admin_key = "sbx_admin_" + secrets.token_urlsafe(24)
        env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
        env |= {
            f"{ENV_PREFIX}DATA_DIR": str(Path(folder) / "data"),
            f"{ENV_PREFIX}ADMIN_KEY": admin_key,
            f"{ENV_PREFIX}WORKER_POLL_SECONDS": str(worker_poll_seconds),
            f"{ENV_PREFIX}LOG_LEVEL": "WARNING",
        }
        command = [
            sys.executable,
            "-c",
            "from simulator.cli import main; main()",
            "up",
            "--no-demo",
            "--bind=127.0.0.1",
            *(f"--{app}-port={port}" for app, port in ports.items()),
        ]
        log_path = Path(folder) / "sandbox.log"
        with open(log_path, "wb") as output:
            process = subprocess.Popen(
                command, env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
        client = SandboxClient(urls["console"], urls["ams"], urls["lms"], admin_key)
        try:
            _wait_until_up(process, urls, log_path)
            log.info("temporary sandbox up at %s", urls["console"])
            yield client
        finally:
            client.close()
            _stop(process)


def _answers(console_url: str) -> bool:
    try:
        return httpx.get(f"{console_url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_until_up(process: subprocess.Popen[bytes], urls: dict[str, str], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    pending = list(urls.values())
    while pending:
        if process.poll() is not None:
            raise SandboxError(
                f"The temporary sandbox stopped during start-up:\n{log_path.read_text()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise SandboxError(f"The temporary sandbox did not answer within {START_TIMEOUT_SECONDS:.0f} s.")
        try:
            if httpx.get(f"{pending[0]}/healthz", timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (``up`` stops its children in order), SIGKILL if it lingers."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("the temporary sandbox ignored SIGTERM; killing it")
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(10)
