"""Real sandbox processes for end-to-end tests: free ports, start in a process group, stop for sure.

Every process is started in its own session (so it leads a process group, as a shell job does) with
its output in a file; :class:`ProcessGroup` signals the whole group, as Ctrl-C in a terminal does, and
:meth:`ProcessGroup.kill` is the safety net a fixture runs when a test fails half-way.

Example::

    group = ProcessGroup.start([sys.executable, "-m", "simulator.cli", "worker"], env, tmp_path / "worker")
    try:
        ...
        assert group.interrupt(signal.SIGTERM, timeout=10) == 0
    finally:
        group.kill()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")

SANDBOX_COMMAND = [sys.executable, "-m", "simulator.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """The test's environment without any ``SANDBOX_*`` setting, plus ``settings`` (``data_dir=…``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    env.update({f"SANDBOX_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str | Callable[[], str], interval: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds.

    ``what`` may be a function, to describe the state at the moment of failure (e.g. a process's output).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            description = what() if callable(what) else what
            raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {description}.")
        time.sleep(interval)


class ProcessGroup:
    """A started command leading its own process group, with stdout and stderr kept in files."""

    def __init__(self, process: subprocess.Popen[bytes], log_dir: Path) -> None:
        self.process = process
        self.pgid = process.pid
        self.stdout_path = log_dir / "stdout.txt"
        self.stderr_path = log_dir / "stderr.txt"

    @classmethod
    def start(
        cls, args: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path | None = None
    ) -> ProcessGroup:
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "stdout.txt", "wb") as stdout, open(log_dir / "stderr.txt", "wb") as stderr:
            process = subprocess.Popen(
                args, env=dict(env), cwd=cwd or log_dir, stdout=stdout, stderr=stderr, start_new_session=True
            )
        return cls(process, log_dir)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        """The output so far, for assertion messages."""
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def members(self) -> list[psutil.Process]:
        """Live (not zombie) processes still in the group: the leader and everything it started."""
        alive = []
        for process in psutil.process_iter(["status"]):
            try:
                if os.getpgid(process.pid) == self.pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except (ProcessLookupError, psutil.Error):
                continue
        return alive

    def interrupt(self, signum: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send ``signum`` to the whole group; wait until every member is gone; return the exit code.

        Raises ``AssertionError`` when the leader or any child outlives ``timeout``.
        """
        os.killpg(self.pgid, signum)
        deadline = time.monotonic() + timeout
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"The process ignored signal {signum} for {timeout:.0f} s.") from exc
        wait_until(
            lambda: not self.members(),
            max(0.0, deadline - time.monotonic()),
            lambda: f"the children of pid {self.pgid} to exit (left: {self.members()})",
        )
        return code

    def kill(self) -> None:
        """Make sure nothing of the group survives (a no-op when it already stopped)."""
        with suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(10)
