"""Nothing lost, nothing doubled: 1,000 completions through a flaky AMS inbox, and a worker SIGKILLed
in the middle of delivering a batch. Exact counts in the AMS afterwards."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from simulator.ams.writeback.models import InboxEntry
from simulator.core.outbox_models import OutboxMessage
from simulator.lms.learning.catalog import CATALOG
from simulator.worker import run_worker_pass
from tests.conftest import ADMIN
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.writeback.conftest import World


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Both must-hold tests run on SQLite and on PostgreSQL."""
    return any_db_url


COURSES = [course["code"] for course in CATALOG if course["kind"] == "course"]
CREDITS_ONLY = {"name": "credits", "trigger": "credits.awarded", "value_format": "ce_credit"}
FLAKY_INBOX = [
    {"name": "crash", "status": 500, "probability": 0.085, "seed": 1},
    {"name": "maintenance", "status": 503, "retry_after": 1, "probability": 0.085, "seed": 2},
    {"name": "throttle", "status": 429, "probability": 0.085, "seed": 3},
    {"name": "too slow", "delay": {"fixed_ms": 800}, "probability": 0.085, "seed": 4},
]


def completions(world: World, count: int) -> list[tuple[str, str]]:
    members = world.member_ids(count // len(COURSES) + 1)
    pairs = [(member, course) for member in members for course in COURSES]
    assert len(pairs) >= count
    return pairs[:count]


def unfinished(world: World) -> int:
    states = world.outbox_states()
    return sum(states.get(state, 0) for state in ("pending", "in_flight", "retrying"))


def duplicates_seen(world: World) -> int:
    with world.db.read() as session:
        return session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.result == "duplicate")
        )


def put_faults(world: World, rules: list[dict[str, Any]]) -> None:
    rules = [{"app": "ams", "method": "POST", "path": "/writeback/records", **rule} for rule in rules]
    response = world.console.put(f"/api/tenants/{world.tenant}/faults", json={"rules": rules}, headers=ADMIN)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("world_settings", "world_members"),
    [
        (
            {
                "writeback": {"rules": [CREDITS_ONLY]},
                "retry": {"time_scale": 0.0001, "jitter": 0.2, "timeout_seconds": 0.5},
            },
            200,
        )
    ],
)
def test_1000_completions_through_an_inbox_failing_30_percent_arrive_exactly_once(world: World) -> None:
    put_faults(world, FLAKY_INBOX)
    world.complete_in_lms(completions(world, 1000))
    assert world.outbox_states() == {"pending": 1000}

    wait_until(lambda: run_worker_pass(world.db) == 0 and unfinished(world) == 0, 120, "the outbox to drain")

    assert world.outbox_states() == {"delivered": 1000}
    assert world.stored_records() == 1000
    rules = world.console.get(f"/api/tenants/{world.tenant}/faults", headers=ADMIN).get_json()["rules"]
    fired = {rule["rule"]["name"]: rule["fired_count"] for rule in rules}
    matched = rules[0]["matched_count"]
    assert all(count > 0 for count in fired.values()), fired
    assert 0.2 < sum(fired.values()) / matched < 0.4  # the inbox really failed about 30 % of requests
    assert duplicates_seen(world) > 0  # timed-out requests were stored, and their retries deduped


BATCH_CREDITS = {**CREDITS_ONLY, "mode": "batch", "schedule": {"every": "nightly", "at": "02:00"}}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("world_settings", "world_members"),
    [
        (
            {
                "writeback": {"rules": [BATCH_CREDITS], "batch_max_size": 10},
                "retry": {"time_scale": 0.0001, "jitter": 0, "timeout_seconds": 1.0},
            },
            200,
        )
    ],
)
def test_a_worker_killed_mid_batch_and_restarted_delivers_exactly_once(world: World, tmp_path: Path) -> None:
    world.complete_in_lms(completions(world, 1000))
    put_faults(world, [{"name": "slow inbox", "delay": {"fixed_ms": 300}}])
    endpoint = f"/api/tenants/{world.tenant}/endpoints/ams-writeback"
    world.console.post(f"{endpoint}/disable", json={"reason": "hold the batch for the worker"}, headers=ADMIN)
    world.advance(days=1)  # the nightly window bundles 100 bulk messages, held by the disabled endpoint
    assert world.outbox_states() == {"pending": 100} and world.stored_records() == 0
    world.console.post(f"{endpoint}/enable", headers=ADMIN)
    env = clean_env(database_url=world.db.url, data_dir=str(tmp_path / "data"), worker_poll_seconds="0.1")

    first = ProcessGroup.start([*SANDBOX_COMMAND, "worker"], env, tmp_path / "worker-1")
    try:
        wait_until(
            lambda: world.stored_records() >= 150,
            60,
            lambda: f"deliveries to start\n{first.describe()}",
            interval=0.02,
        )
        first.interrupt(signal.SIGKILL, timeout=10)
    finally:
        first.kill()
    stored_at_kill = world.stored_records()
    assert stored_at_kill < 1000, "the worker finished before it could be killed"
    assert world.outbox_states().get("in_flight", 0) > 0  # it died holding claims

    second = ProcessGroup.start([*SANDBOX_COMMAND, "worker"], env, tmp_path / "worker-2")
    try:
        wait_until(lambda: unfinished(world) == 0, 90, lambda: f"the outbox to drain\n{second.describe()}")
        assert second.interrupt(signal.SIGTERM, timeout=10) == 0
    finally:
        second.kill()

    assert world.stored_records() == 1000
    assert world.outbox_states() == {"delivered": 100}
    with world.db.read() as session:
        reclaimed = session.scalar(select(func.count()).where(OutboxMessage.attempts > 1))
    assert reclaimed > 0  # messages in flight at the kill were claimed again after their lease
    assert "Traceback" not in second.stderr
