"""The process supervisor of ``sandbox up``: starts the apps and workers, restarts what dies, takes orders.

The parent imports the whole application once, then forks each child from that loaded state (a child of
gevent workers is started afresh instead: gevent must patch the standard library before the app is
imported). Every child runs in its own process group, so a signal to a child reaches its gunicorn
workers too, and gets SIGTERM should the supervisor die. A child that dies unexpectedly — any signal,
any exit — is logged with its status and started again after a back-off (0.5 s, doubling while it keeps
dying young, at most 8 s); one that dies :data:`CRASH_LIMIT` times within :data:`CRASH_WINDOW_SECONDS`
stops the sandbox with a plain message. The others keep serving throughout.

The supervisor listens on a Unix socket in the data folder (:func:`control_socket_path`), one JSON
request per connection, for the control API (``/api/processes``): ``list``; ``kill`` (SIGKILL or
SIGTERM, now or ``after`` some seconds; then restarted after the first back-off, however often it is
asked, and never counted as a crash);
``pause`` (SIGSTOP, for some seconds or until ``resume``); ``resume`` (SIGCONT); and ``restart``
(SIGTERM, started again at once).
Only the processes it started itself can be named. Everything runs in one thread (a selector loop), so
forking a replacement never copies a lock another thread holds.

Example::

    supervisor = Supervisor(config, [ChildSpec("ams", "ams", serve("ams"))], log)
    supervisor.start_all()
    supervisor.run_until_stopped()
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config import SandboxConfig

log = logging.getLogger(__name__)

CRASH_LIMIT = 5
CRASH_WINDOW_SECONDS = 60.0
YOUNG_SECONDS = 10.0
"""A child that dies within this long of starting doubles its next back-off."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
STOP_GRACE_SECONDS = 10.0
MAX_SOCKET_PATH = 100
ACTIONS = ("kill", "pause", "resume", "restart")
CONTROLLABLE_ROLES = ("ams", "lms", "worker")
"""The console is listed but cannot be steered: it serves the very request that would stop it."""


class SupervisorUnavailable(Exception):
    """No supervisor answers: this sandbox was not started by ``sandbox up`` (or it is stopping)."""


def control_socket_path(config: SandboxConfig) -> Path:
    """Where the supervisor of the sandbox using ``config``'s data folder listens (a short path)."""
    path = config.data_dir.resolve() / "supervisor.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path("/tmp") / f"sandbox-supervisor-{digest}.sock"  # noqa: S108 - AF_UNIX paths are short


def ask(config: SandboxConfig, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the supervisor and return its answer (raises :class:`SupervisorUnavailable`)."""
    path = control_socket_path(config)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            connection.connect(str(path))
            connection.sendall(json.dumps(request).encode() + b"\n")
            connection.shutdown(socket.SHUT_WR)
            data = b"".join(iter(lambda: connection.recv(65536), b""))
        except OSError as exc:
            raise SupervisorUnavailable(str(exc)) from exc
    return json.loads(data)


@dataclass
class ChildSpec:
    """What one child is: its name (``ams``, ``worker-2``…), its role, and how it runs."""

    name: str
    role: str
    run: Callable[[], int] | None = None
    """Runs in the forked child; returns its exit code."""
    command: list[str] | None = None
    """Or: a command to start afresh (gevent children)."""
    env: dict[str, str] | None = None


@dataclass
class Child:
    spec: ChildSpec
    pid: int | None = None
    started_at: float = 0.0
    started_wall: str = ""
    restarts: int = 0
    paused: bool = False
    resume_at: float | None = None
    restart_at: float | None = None
    backoff: float = FIRST_BACKOFF_SECONDS
    expected: str | None = None
    """Why the next exit is expected: ``kill`` or ``restart`` (set by a control request)."""
    kill_at: tuple[float, int] | None = None
    """A kill asked for later: (when, signal number)."""
    last_exit: str | None = None
    crashes: collections.deque[float] = field(default_factory=collections.deque)

    def summary(self) -> dict[str, Any]:
        state = "paused" if self.paused else "running" if self.pid is not None else "restarting"
        return {
            "name": self.spec.name,
            "role": self.spec.role,
            "pid": self.pid,
            "state": state,
            "started_at": self.started_wall,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "controllable": self.spec.role in CONTROLLABLE_ROLES,
        }


def describe_status(status: int) -> str:
    """``killed by SIGKILL`` / ``exited with status 3`` for a ``waitpid`` status."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _become_child(parent: int, name: str) -> None:
    """In a child: SIGTERM when the supervisor dies, and its name in ``ps``/``top`` (Linux); stop at
    once if the supervisor is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig, pr_set_name = 1, 15
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        libc.prctl(pr_set_name, f"sandbox-{name}"[:15].encode())
    if os.getppid() != parent:
        os._exit(0)


class CrashLoop(Exception):
    """A child kept dying young: the sandbox stops."""


class Supervisor:
    """Starts :class:`ChildSpec` children, keeps them running, answers control requests (one thread)."""

    def __init__(self, config: SandboxConfig, specs: list[ChildSpec]) -> None:
        self.config = config
        self.children = {spec.name: Child(spec) for spec in specs}
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.stopping = False

    # children

    def _fork(self, child: Child) -> int:
        """Fork the child (in its own session) and run it; the parent gets its pid."""
        spec = child.spec
        parent = os.getpid()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            os.setsid()
            _become_child(parent, spec.name)
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(number, signal.SIG_DFL)
            if self.listener is not None:
                self.listener.close()
            if spec.command is not None:
                os.execve(spec.command[0], spec.command, spec.env or dict(os.environ))  # noqa: S606
            assert spec.run is not None
            code = spec.run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("%s failed", spec.name)
        finally:
            logging.shutdown()
            os._exit(code)

    def start(self, child: Child) -> None:
        child.pid = self._fork(child)
        child.started_at = time.monotonic()
        child.started_wall = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        child.paused, child.resume_at, child.restart_at, child.kill_at = False, None, None, None
        log.info("%s started (pid %s)", child.spec.name, child.pid)

    def start_all(self) -> None:
        self._listen()
        for child in self.children.values():
            self.start(child)

    def pids(self) -> list[int]:
        return [child.pid for child in self.children.values() if child.pid is not None]

    def _exited(self, child: Child, status: int) -> None:
        """Account for a child's exit and schedule its replacement (raises :class:`CrashLoop`)."""
        now = time.monotonic()
        how = describe_status(status)
        child.last_exit, child.pid, child.paused = how, None, False
        expected, child.expected = child.expected, None
        if self.stopping:
            return
        child.restarts += 1
        if expected == "restart":
            log.info("%s %s; restarting it as asked", child.spec.name, how)
            child.restart_at = now
            return
        if expected != "kill":
            child.crashes.append(now)
            while child.crashes and now - child.crashes[0] > CRASH_WINDOW_SECONDS:
                child.crashes.popleft()
            if len(child.crashes) >= CRASH_LIMIT:
                raise CrashLoop(
                    f"{child.spec.name} stopped {len(child.crashes)} times within "
                    f"{CRASH_WINDOW_SECONDS:.0f} s (last: {how}); stopping the sandbox "
                    "(its log above says why)."
                )
        if expected == "kill":  # asked for, so no sign of a crash loop: the back-off does not grow
            delay = FIRST_BACKOFF_SECONDS
        else:
            young = now - child.started_at < YOUNG_SECONDS
            delay = child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS) if young else FIRST_BACKOFF_SECONDS
        word = "was stopped as asked" if expected == "kill" else "stopped unexpectedly"
        log.warning("%s %s (%s); restarting it in %.1f s", child.spec.name, word, how, delay)
        child.restart_at = now + delay

    def reap(self) -> list[str]:
        """Collect exited children; returns the names that exited (replacements are scheduled)."""
        exited = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return exited
            if pid == 0:
                return exited
            child = next((c for c in self.children.values() if c.pid == pid), None)
            if child is not None:
                exited.append(child.spec.name)
                self._exited(child, status)

    def _due(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.pid is None and child.restart_at is not None and now >= child.restart_at:
                self.start(child)
            elif child.kill_at is not None and now >= child.kill_at[0]:
                self._kill(child, child.kill_at[1])
            elif child.paused and child.resume_at is not None and now >= child.resume_at:
                self._signal(child, signal.SIGCONT)
                child.paused, child.resume_at = False, None
                log.info("%s resumed (its pause ended)", child.spec.name)

    def _kill(self, child: Child, number: int) -> None:
        child.expected, child.kill_at = "kill", None
        self._signal(child, number)
        if child.paused:
            self._signal(child, signal.SIGCONT)

    def _signal(self, child: Child, number: int) -> None:
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, number)

    # control

    def _listen(self) -> None:
        path = control_socket_path(self.config)
        self.config.ensure_data_dir()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ)
        self.listener = listener

    def _serve_one(self) -> None:
        assert self.listener is not None
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return
        with connection:
            connection.settimeout(5.0)
            try:
                data = b"".join(iter(lambda: connection.recv(65536), b""))
                answer = self.handle(json.loads(data or b"{}"))
            except (OSError, ValueError) as exc:
                answer = {"ok": False, "error": f"unreadable request: {exc}"}
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps(answer).encode())

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One control request: ``{"op": "list"}`` or ``{"op": ACTION, "name": …, …}``."""
        op = request.get("op")
        if op == "list":
            return {"ok": True, "processes": [child.summary() for child in self.children.values()]}
        if op not in ACTIONS:
            return {"ok": False, "error": f"unknown operation {op!r}"}
        name = str(request.get("name", ""))
        child = self.children.get("worker-1" if name == "worker" else name)
        if child is None:
            return {"ok": False, "error": f"there is no process {name!r}", "status": 404}
        if child.spec.role not in CONTROLLABLE_ROLES:
            return {
                "ok": False,
                "error": f"{child.spec.name} cannot be steered from the console",
                "status": 409,
            }
        if child.pid is None:
            return {
                "ok": False,
                "error": f"{child.spec.name} is not running (it is being restarted)",
                "status": 409,
            }
        if op == "kill":
            number = signal.SIGTERM if request.get("signal") == "TERM" else signal.SIGKILL
            after = float(request.get("after") or 0)
            if after > 0:
                child.kill_at = (time.monotonic() + after, number)
            else:
                self._kill(child, number)
        elif op == "restart":
            child.expected = "restart"
            self._signal(child, signal.SIGTERM)
            self._signal(child, signal.SIGCONT)
        elif op == "pause":
            seconds = request.get("seconds")
            self._signal(child, signal.SIGSTOP)
            child.paused = True
            child.resume_at = time.monotonic() + float(seconds) if seconds else None
        else:
            self._signal(child, signal.SIGCONT)
            child.paused, child.resume_at = False, None
        log.info("%s: %s as asked", child.spec.name, op)
        return {"ok": True, "process": child.summary()}

    # the loop

    def run_until_stopped(self, stopped: Callable[[], bool]) -> None:
        """Supervise until ``stopped()`` says so (raises :class:`CrashLoop`)."""
        while not stopped():
            for _key, _events in self.selector.select(timeout=0.1):
                self._serve_one()
            self.reap()
            self._due()

    def stop_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every child's group (waking paused ones), wait ``grace``, SIGKILL what is left."""
        self.stopping = True
        for child in self.children.values():
            self._signal(child, signal.SIGTERM)
            self._signal(child, signal.SIGCONT)
        deadline = time.monotonic() + grace
        while self.pids() and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for child in self.children.values():
            self._signal(child, signal.SIGKILL)
        while self.pids():
            for child in self.children.values():
                if child.pid is not None:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(child.pid, 0)
                    child.pid = None
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            with contextlib.suppress(FileNotFoundError):
                control_socket_path(self.config).unlink()
