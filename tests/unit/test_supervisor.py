"""The supervisor's bookkeeping, without processes: back-off, crash loops, expected exits, requests."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from simulator import supervisor as sup
from simulator.config import load_config

KILLED = signal.SIGKILL  # a waitpid status for "killed by SIGKILL"
EXIT_3 = 3 << 8


@pytest.fixture
def supervisor(tmp_path: Path) -> sup.Supervisor:
    config = load_config(env={}, overrides={"data_dir": str(tmp_path / "data"), "admin_key": "k"})
    specs = [sup.ChildSpec("ams", "ams", run=lambda: 0), sup.ChildSpec("console", "console", run=lambda: 0)]
    return sup.Supervisor(config, [*specs, sup.ChildSpec("worker-1", "worker", run=lambda: 0)])


def running(supervisor: sup.Supervisor, name: str, pid: int = 4242, age: float = 0.0) -> sup.Child:
    child = supervisor.children[name]
    child.pid, child.started_at = pid, time.monotonic() - age
    return child


def test_exit_statuses_read_as_people_say_them() -> None:
    assert sup.describe_status(KILLED) == "killed by SIGKILL"
    assert sup.describe_status(signal.SIGTERM) == "killed by SIGTERM"
    assert sup.describe_status(EXIT_3) == "exited with status 3"
    assert sup.describe_status(0) == "exited with status 0"


def test_a_young_crash_doubles_the_back_off_and_an_old_one_resets_it(supervisor: sup.Supervisor) -> None:
    child = running(supervisor, "worker-1")
    supervisor._exited(child, KILLED)
    first = child.restart_at - time.monotonic()
    assert child.pid is None and child.restarts == 1 and child.last_exit == "killed by SIGKILL"
    assert 0 < first <= sup.FIRST_BACKOFF_SECONDS
    running(supervisor, "worker-1")
    supervisor._exited(child, EXIT_3)
    assert sup.FIRST_BACKOFF_SECONDS < child.restart_at - time.monotonic() <= 2 * sup.FIRST_BACKOFF_SECONDS

    running(supervisor, "worker-1", age=sup.YOUNG_SECONDS + 1)
    supervisor._exited(child, EXIT_3)
    assert child.backoff == sup.FIRST_BACKOFF_SECONDS


def test_the_fifth_crash_within_a_minute_stops_the_sandbox(supervisor: sup.Supervisor) -> None:
    child = supervisor.children["ams"]
    for _ in range(sup.CRASH_LIMIT - 1):
        running(supervisor, "ams")
        supervisor._exited(child, KILLED)
    running(supervisor, "ams")
    with pytest.raises(sup.CrashLoop, match=r"ams stopped 5 times within 60 s \(last: killed by SIGKILL\)"):
        supervisor._exited(child, KILLED)


def test_asked_for_kills_and_restarts_are_not_crashes(supervisor: sup.Supervisor) -> None:
    child = supervisor.children["worker-1"]
    for _ in range(sup.CRASH_LIMIT + 2):
        running(supervisor, "worker-1")
        child.expected = "kill"
        supervisor._exited(child, KILLED)
    assert not child.crashes and child.restarts == sup.CRASH_LIMIT + 2
    assert child.restart_at - time.monotonic() <= sup.FIRST_BACKOFF_SECONDS  # however often it is asked
    running(supervisor, "worker-1")
    child.expected = "restart"
    supervisor._exited(child, signal.SIGTERM)
    assert child.restart_at is not None and child.restart_at <= time.monotonic()


def test_nothing_is_restarted_while_stopping(supervisor: sup.Supervisor) -> None:
    child = running(supervisor, "ams")
    supervisor.stopping = True
    supervisor._exited(child, signal.SIGTERM)
    assert child.restart_at is None and child.restarts == 0


def test_requests_name_only_processes_that_may_be_steered(supervisor: sup.Supervisor) -> None:
    running(supervisor, "console", pid=999_999_99)
    assert supervisor.handle({"op": "list"})["processes"][0]["name"] == "ams"
    assert supervisor.handle({"op": "kill", "name": "console"})["status"] == 409
    assert supervisor.handle({"op": "kill", "name": "nope"})["status"] == 404
    assert (
        supervisor.handle({"op": "kill", "name": "worker"})["error"]
        == "worker-1 is not running (it is being restarted)"
    )
    assert supervisor.handle({"op": "explode"})["ok"] is False
    later = running(supervisor, "worker-1", pid=999_999_98)
    answer = supervisor.handle({"op": "kill", "name": "worker", "after": 30})
    assert answer["ok"] and later.kill_at is not None and later.expected is None  # not yet


def test_a_long_data_folder_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    config = load_config(env={}, overrides={"data_dir": str(deep), "admin_key": "k"})
    path = sup.control_socket_path(config)
    assert len(str(path)) <= sup.MAX_SOCKET_PATH
    assert path == sup.control_socket_path(config)  # the console computes the same
    with pytest.raises(sup.SupervisorUnavailable):
        sup.ask(config, {"op": "list"}, timeout=1)
