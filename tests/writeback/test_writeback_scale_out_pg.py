"""The scale-out shape on PostgreSQL delivers exactly once at scale: 5,000 writebacks queued while no worker
runs, then three `sandbox worker` processes at once deliver them to an AMS inbox that `sandbox serve ams`
serves under gunicorn with two worker processes. The AMS stores one record per (member, course), counts no
duplicate, every message is POSTed once (one attempt each: no claim was shared), and each of the three
workers delivers a share (each attempt row names its worker, ``host:pid``)."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from simulator.ams.writeback.models import WritebackRecord
from simulator.core.outbox_models import DeliveryAttempt
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.writeback.conftest import World

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

CREDITS_ONLY = {"name": "credits", "trigger": "credits.awarded", "value_format": "ce_credit"}
COURSES = ("ETH-101", "CLE-204", "CPE-110", "CPE-215", "CME-120", "CME-230", "CEU-100", "CEU-150")
MEMBERS = 625
COMPLETIONS = MEMBERS * len(COURSES)  # 5,000 distinct (member, course) pairs
SEEDED_PEOPLE = 850  # members, non-members and prospects: at least 625 members (seed 3)
AMS_PROCESSES = 2
WORKERS = 3


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def world_serves_ams() -> bool:
    return False


@pytest.fixture
def gunicorn_ams(world: World, tmp_path: Path) -> Iterator[ProcessGroup]:
    """``sandbox serve ams --workers 2`` on the world's AMS port and database, until the test ends."""
    env = clean_env(
        database_url=world.db.url,
        data_dir=str(tmp_path / "data"),
        bind="127.0.0.1",
        ams_port=str(world.config.ams_port),
        log_level="WARNING",
    )
    command = [*SANDBOX_COMMAND, "serve", "ams", "--workers", str(AMS_PROCESSES)]
    ams = ProcessGroup.start(command, env, tmp_path / "ams")

    def healthy() -> bool:
        assert ams.process.poll() is None, f"the AMS exited at start-up:\n{ams.describe()}"
        try:
            return httpx.get(f"{world.config.ams_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 60, lambda: f"the AMS to answer:\n{ams.describe()}")
        yield ams
        ams.interrupt(signal.SIGTERM, timeout=15)
    finally:
        ams.kill()


@pytest.mark.parametrize(
    ("world_settings", "world_members"),
    [
        (
            {"writeback": {"rules": [CREDITS_ONLY]}, "retry": {"time_scale": 0.0001, "timeout_seconds": 5}},
            SEEDED_PEOPLE,
        )
    ],
)
def test_three_workers_deliver_5000_writebacks_to_gunicorn_exactly_once(
    world: World, gunicorn_ams: ProcessGroup, tmp_path: Path
) -> None:
    assert len(gunicorn_ams.members()) == 1 + AMS_PROCESSES  # the gunicorn arbiter and its workers
    members = world.member_ids(MEMBERS)
    assert len(members) == MEMBERS
    pairs = [(member, course) for member in members for course in COURSES]
    world.complete_in_lms(pairs, per_transaction=1000)
    assert world.outbox_states() == {"pending": COMPLETIONS}
    env = clean_env(database_url=world.db.url, data_dir=str(tmp_path / "data"), worker_poll_seconds="0.1")

    started = time.monotonic()
    workers = [
        ProcessGroup.start([*SANDBOX_COMMAND, "worker"], env, tmp_path / f"w{n}")
        for n in range(1, WORKERS + 1)
    ]
    try:
        wait_until(
            lambda: world.outbox_states() == {"delivered": COMPLETIONS},
            180,
            lambda: (
                f"every message delivered ({world.outbox_states()}):\n"
                + "\n".join(worker.describe() for worker in workers)
            ),
            interval=0.5,
        )
        seconds = time.monotonic() - started
        for worker in workers:
            assert worker.interrupt(signal.SIGTERM, timeout=10) == 0
    finally:
        for worker in workers:
            worker.kill()

    with world.db.read() as session:
        stored = Counter(
            (record.member_id, record.activity_code)
            for record in session.execute(
                select(WritebackRecord.member_id, WritebackRecord.activity_code).where(
                    WritebackRecord.tenant_id == world.tenant
                )
            )
        )
        attempts = session.execute(
            select(DeliveryAttempt.message_pk, DeliveryAttempt.outcome, DeliveryAttempt.worker)
        ).all()
    assert stored == Counter(pairs)  # every (member, course) stored, and once
    attempts_per_message = Counter(attempt.message_pk for attempt in attempts)
    assert len(attempts_per_message) == COMPLETIONS
    assert set(attempts_per_message.values()) == {1}  # each message POSTed once: no claim was shared
    assert {attempt.outcome for attempt in attempts} == {"delivered"}
    delivered_by = Counter(attempt.worker for attempt in attempts)
    host = socket.gethostname()
    assert set(delivered_by) == {f"{host}:{worker.process.pid}" for worker in workers}  # each took part
    log.info(
        "%d writebacks delivered by %d workers in %.1f s (%.0f records/s); per worker: %s",
        COMPLETIONS,
        WORKERS,
        seconds,
        COMPLETIONS / seconds,
        dict(delivered_by),
    )
    with world.ams() as ams:
        counts = ams.get("/api/writeback/inbox", params={"result": "duplicate", "limit": 1}).json()["counts"]
    assert counts["duplicate"] == 0
    assert counts["accepted"] == COMPLETIONS
