"""Two `sandbox worker` processes share one PostgreSQL outbox: every message is delivered exactly once, and
both workers take part (the AMS journal names the sending worker in each request's User-Agent)."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from simulator.core.outbox_models import DeliveryAttempt
from tests.conftest import ADMIN
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.writeback.conftest import World

pytestmark = pytest.mark.e2e
CREDITS_ONLY = {"name": "credits", "trigger": "credits.awarded", "value_format": "ce_credit"}


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url


@pytest.mark.parametrize(
    ("world_settings", "world_members"),
    [({"writeback": {"rules": [CREDITS_ONLY]}, "retry": {"time_scale": 0.0001, "timeout_seconds": 5}}, 80)],
)
def test_two_workers_claim_with_skip_locked_and_never_deliver_twice(world: World, tmp_path: Path) -> None:
    members = world.member_ids(40)
    world.complete_in_lms(
        [
            (member, course)
            for member in members
            for course in ("ETH-101", "CPE-110", "CME-120", "CEU-100", "CLE-204")
        ]
    )
    response = world.console.put(
        f"/api/tenants/{world.tenant}/faults",
        json={"rules": [{"app": "ams", "path": "/writeback/records", "delay": {"fixed_ms": 30}}]},
        headers=ADMIN,
    )
    assert response.status_code == 200
    total = sum(world.outbox_states().values())
    env = clean_env(database_url=world.db.url, data_dir=str(tmp_path / "data"), worker_poll_seconds="0.1")

    workers = [ProcessGroup.start([*SANDBOX_COMMAND, "worker"], env, tmp_path / f"w{n}") for n in (1, 2)]
    try:
        wait_until(
            lambda: world.outbox_states() == {"delivered": total},
            90,
            lambda: "\n".join(worker.describe() for worker in workers),
        )
        for worker in workers:
            assert worker.interrupt(signal.SIGTERM, timeout=10) == 0
    finally:
        for worker in workers:
            worker.kill()

    assert world.stored_records() == total
    with world.db.read() as session:
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
    assert attempts == total  # each message POSTed once: no claim was shared
    journal = world.console.get(
        f"/api/tenants/{world.tenant}/journal",
        query_string={"app": "ams", "path": "/writeback/records", "limit": 1000},
        headers=ADMIN,
    ).get_json()["entries"]
    senders = Counter(entry["request_headers"].get("User-Agent") for entry in journal)
    assert sum(senders.values()) == total
    assert set(senders) == {f"ams-lms-sandbox-outbox (pid {worker.process.pid})" for worker in workers}
    with world.ams() as ams:
        assert (
            ams.get("/api/writeback/inbox", params={"result": "duplicate"}).json()["counts"]["duplicate"] == 0
        )
