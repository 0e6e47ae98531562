"""`sandbox worker` runs the nightly membership sweep when a tenant's business clock reaches it."""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import simulator.jobs  # noqa: F401 - registers ams.membership_sweep for schedule_job
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.jobs import schedule_job
from simulator.core.tenancy import create_tenant
from tests.helpers.members import add_member, member_status
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

TIMEZONE = "Pacific/Auckland"
SECONDS_BEFORE_MIDNIGHT_SWEEP = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database: a SQLite file, or a fresh PostgreSQL schema."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


def tenant_just_before_the_nightly_sweep(db: Database) -> dt.date:
    """Tenant ``night`` whose business clock is a few seconds before 00:05 local, the sweep's time.

    Returns the local date the sweep will run on.
    """
    zone = ZoneInfo(TIMEZONE)
    now = wall_now()
    next_day = (now.astimezone(zone) + dt.timedelta(days=1)).date()
    sweep_at = dt.datetime.combine(next_day, dt.time(0, 5), zone)
    business_now = sweep_at - dt.timedelta(seconds=SECONDS_BEFORE_MIDNIGHT_SWEEP)
    with db.session() as session:
        tenant, _ = create_tenant(session, "night", settings={"timezone": TIMEZONE})
        tenant.clock_offset_seconds = (business_now - now).total_seconds()
        schedule_job(session, "night", "ams.membership_sweep", sweep_at.astimezone(dt.UTC))
    return next_day


def test_worker_moves_an_expired_member_to_grace_at_the_nightly_sweep_and_stops_on_sigterm(
    database: Database, tmp_path: Path
) -> None:
    sweep_date = tenant_just_before_the_nightly_sweep(database)
    add_member(database, "night", "expired@night.test", "active", sweep_date - dt.timedelta(days=2))
    add_member(database, "night", "current@night.test", "active", sweep_date)
    env = clean_env(database_url=database.url, data_dir=str(tmp_path / "data"), worker_poll_seconds="0.2")

    worker = ProcessGroup.start([*SANDBOX_COMMAND, "worker"], env, tmp_path / "worker")
    try:
        wait_until(
            lambda: member_status(database, "night", "expired@night.test") == "grace",
            25,
            lambda: f"the sweep to move the expired member to grace\n{worker.describe()}",
        )
        assert member_status(database, "night", "current@night.test") == "active"
        assert worker.interrupt(signal.SIGTERM, timeout=10) == 0, worker.describe()
    finally:
        worker.kill()
    assert "Traceback" not in worker.stderr
