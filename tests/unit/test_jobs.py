"""Due jobs on a tenant's business clock, and the AMS's nightly membership sweep (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

import simulator.jobs  # noqa: F401 - registers ams.membership_sweep
from simulator.ams.models import Member
from simulator.core import clock
from simulator.core import jobs as jobs_module
from simulator.core.db import Database
from simulator.core.jobs import JobContext, daily_at, job, recurring_job, run_due_jobs, schedule_job
from simulator.core.models import ScheduledJob
from simulator.core.tenancy import create_tenant
from tests.conftest import ADMIN
from tests.helpers.members import add_member

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@dataclass
class Run:
    kind: str
    label: str
    due_at: dt.datetime
    clock_read: dt.datetime


@dataclass
class JobRecorder:
    """Job kinds registered for one test only (the sandbox's own kinds are hidden meanwhile)."""

    runs: list[Run] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ctx: JobContext) -> dict[str, Any]:
        with self.lock:
            self.runs.append(
                Run(
                    ctx.job.kind,
                    ctx.job.payload.get("label", ""),
                    ctx.job.due_at,
                    clock.tenant_now(ctx.tenant),
                )
            )
        return {"label": ctx.job.payload.get("label", "")}

    def labels(self) -> list[str]:
        return [run.label for run in self.runs]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> JobRecorder:
    monkeypatch.setattr(jobs_module, "_KINDS", {})
    kinds = JobRecorder()
    job("test.record")(kinds.record)

    @job("test.explode")
    def explode(ctx: JobContext) -> None:
        kinds.record(ctx)
        raise RuntimeError("the destination refused the batch")

    return kinds


@pytest.fixture
def tenant_id(db: Database) -> str:
    """Tenant ``acme`` (New York time) whose clock is frozen, so every moment below is exact."""
    with db.session() as session:
        create_tenant(session, "acme", settings={"timezone": "America/New_York"})
    clock.freeze_clock(db, "acme")
    return "acme"


def business_now(db: Database, tenant_id: str = "acme") -> dt.datetime:
    return clock.read_clock(db, tenant_id).now


def schedule(db: Database, due_at: dt.datetime, label: str, kind: str = "test.record", **kwargs: Any) -> None:
    with db.session() as session:
        schedule_job(session, "acme", kind, due_at, {"label": label}, **kwargs)


def job_rows(db: Database) -> list[ScheduledJob]:
    with db.read() as session:
        return list(session.scalars(select(ScheduledJob).order_by(ScheduledJob.id)))


def test_an_advance_runs_due_jobs_in_time_order_each_at_its_own_moment(
    db: Database, tenant_id: str, recorder: JobRecorder
) -> None:
    start = business_now(db)
    for hours, label in [(3, "third"), (1, "first"), (30, "tomorrow"), (2, "second")]:
        schedule(db, start + dt.timedelta(hours=hours), label)

    result = clock.advance_clock(db, tenant_id, dt.timedelta(hours=12))

    assert recorder.labels() == ["first", "second", "third"]
    assert all(run.clock_read == run.due_at for run in recorder.runs)
    assert [run.due_at - start for run in recorder.runs] == [dt.timedelta(hours=h) for h in (1, 2, 3)]
    assert [(ran["result"]["label"], ran["state"]) for ran in result.jobs_run] == [
        ("first", "done"),
        ("second", "done"),
        ("third", "done"),
    ]
    assert result.now == start + dt.timedelta(hours=12)
    pending = jobs_module.pending_jobs(db, tenant_id)
    assert [(row.payload["label"], row.state) for row in pending] == [("tomorrow", "pending")]


def test_a_job_due_exactly_at_the_new_time_runs_and_one_a_microsecond_later_waits(
    db: Database, tenant_id: str, recorder: JobRecorder
) -> None:
    start = business_now(db)
    schedule(db, start + dt.timedelta(hours=1), "on the dot")
    schedule(db, start + dt.timedelta(hours=1, microseconds=1), "just after")

    clock.advance_clock(db, tenant_id, dt.timedelta(hours=1))

    assert recorder.labels() == ["on the dot"]


def test_a_failing_job_is_marked_failed_and_the_later_ones_still_run(
    db: Database, tenant_id: str, recorder: JobRecorder
) -> None:
    start = business_now(db)
    schedule(db, start + dt.timedelta(minutes=10), "before")
    schedule(db, start + dt.timedelta(minutes=20), "broken", kind="test.explode")
    schedule(db, start + dt.timedelta(minutes=30), "after")

    result = clock.advance_clock(db, tenant_id, dt.timedelta(hours=1))

    assert recorder.labels() == ["before", "broken", "after"]
    assert [ran["state"] for ran in result.jobs_run] == ["done", "failed", "done"]
    assert "the destination refused the batch" in result.jobs_run[1]["error"]
    rows = {row.payload["label"]: row for row in job_rows(db)}
    assert rows["broken"].state == "failed"
    assert rows["broken"].last_error == "RuntimeError: the destination refused the batch"
    assert rows["broken"].finished_at is not None
    assert rows["after"].state == "done"
    assert rows["after"].result == {"label": "after"}


def test_scheduling_a_dedupe_key_twice_keeps_one_job(
    db: Database, tenant_id: str, recorder: JobRecorder
) -> None:
    start = business_now(db)
    schedule(db, start + dt.timedelta(minutes=5), "original", dedupe_key="batch-2026-11-28")
    schedule(db, start + dt.timedelta(minutes=6), "duplicate", dedupe_key="batch-2026-11-28")
    schedule(db, start + dt.timedelta(minutes=7), "another", dedupe_key="batch-2026-11-29")

    clock.advance_clock(db, tenant_id, dt.timedelta(hours=1))

    assert recorder.labels() == ["original", "another"]
    assert len(job_rows(db)) == 2


def test_an_unknown_kind_cannot_be_scheduled(db: Database, tenant_id: str, recorder: JobRecorder) -> None:
    with pytest.raises(ValueError, match=r"unknown job kind 'test\.nothing'"), db.session() as session:
        schedule_job(session, tenant_id, "test.nothing", business_now(db))
    assert job_rows(db) == []


def test_a_daily_job_runs_once_a_day_at_its_local_time_across_a_dst_change(
    db: Database, tenant_id: str, recorder: JobRecorder
) -> None:
    # 2030-03-10 is when New York moves its clocks forward: 09:30 local is 14:30 UTC before, 13:30 after.
    clock.advance_clock(db, tenant_id, dt.datetime(2030, 3, 8, 16, 0, tzinfo=dt.UTC) - business_now(db))
    recurring_job("test.daily", daily_at(9, 30))(recorder.record)

    result = clock.advance_clock(db, tenant_id, dt.timedelta(days=3))

    zone_runs = [run.clock_read.astimezone(NEW_YORK) for run in recorder.runs]
    assert [run.strftime("%Y-%m-%d %H:%M") for run in zone_runs] == [
        "2030-03-09 09:30",
        "2030-03-10 09:30",
        "2030-03-11 09:30",
    ]
    assert [run.due_at.hour for run in recorder.runs] == [14, 13, 13]
    assert len(result.jobs_run) == 3
    next_run = jobs_module.pending_jobs(db, tenant_id)
    assert [(row.kind, row.due_at) for row in next_run] == [
        ("test.daily", dt.datetime(2030, 3, 12, 13, 30, tzinfo=dt.UTC))
    ]


def test_two_runners_never_run_one_job_twice(db: Database, tenant_id: str, recorder: JobRecorder) -> None:
    start = business_now(db)
    for minute in range(30):
        schedule(db, start - dt.timedelta(minutes=minute), f"job-{minute:02}")
    runners = [Database(db.url) for _ in range(2)]
    ready = threading.Barrier(len(runners))

    def slow_record(ctx: JobContext) -> dict[str, Any]:
        time.sleep(0.005)  # widen the window in which the other runner looks for work
        return recorder.record(ctx)

    job("test.record")(slow_record)

    def run(runner: Database) -> None:
        ready.wait()
        run_due_jobs(runner, tenant_id)

    threads = [
        threading.Thread(target=run, args=(runner,), name=f"runner-{i}") for i, runner in enumerate(runners)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for runner in runners:
            runner.dispose()

    assert sorted(recorder.labels()) == [f"job-{minute:02}" for minute in range(30)]
    assert {(row.state, row.attempts) for row in job_rows(db)} == {("done", 1)}


# The AMS's nightly membership sweep, driven through the control API.


def statuses(db: Database, tenant: str) -> dict[str, str | None]:
    with db.read() as session:
        rows = session.execute(select(Member.email, Member.status).where(Member.tenant_id == tenant))
        return {email.partition("@")[0]: status for email, status in rows}


@pytest.fixture
def tenant_at_local_noon(console: Any, make_tenant: Any, db: Database) -> Callable[..., dt.date]:
    """Create a tenant with no members whose frozen clock reads noon, local time; returns that date."""

    def create(tenant: str, **settings: Any) -> dt.date:
        make_tenant(tenant, settings={"timezone": "Europe/Berlin", **settings})
        console.post(f"/api/tenants/{tenant}/clock/freeze", headers=ADMIN)
        local_now = clock.read_clock(db, tenant).now.astimezone(BERLIN)
        noon = local_now.replace(hour=12, minute=0, second=0, microsecond=0)
        if noon <= local_now:
            noon += dt.timedelta(days=1)
        moved = console.post(
            f"/api/tenants/{tenant}/clock/advance", json={"until": noon.isoformat()}, headers=ADMIN
        )
        assert moved.status_code == 200, moved.get_json()
        with db.session() as session:
            session.execute(delete(Member).where(Member.tenant_id == tenant))
        return noon.date()

    return create


def test_the_nightly_sweep_moves_expired_members_to_grace_and_then_to_lapsed(
    console: Any, db: Database, tenant_at_local_noon: Callable[..., dt.date]
) -> None:
    today = tenant_at_local_noon("acme", membership={"grace_days": 10})
    sweep_day = today + dt.timedelta(days=1)
    add_member(db, "acme", "expires-today@x.test", "active", today)
    add_member(db, "acme", "good-through-sweep-day@x.test", "active", sweep_day)
    add_member(db, "acme", "grace-ten-days@x.test", "grace", sweep_day - dt.timedelta(days=10))
    add_member(db, "acme", "grace-eleven-days@x.test", "grace", sweep_day - dt.timedelta(days=11))
    add_member(db, "acme", "forgotten-active@x.test", "active", sweep_day - dt.timedelta(days=400))
    add_member(db, "acme", "customer@x.test", None, None)

    response = console.post("/api/tenants/acme/clock/advance", json={"days": 1}, headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    assert statuses(db, "acme") == {
        "expires-today": "grace",
        "good-through-sweep-day": "active",
        "grace-ten-days": "grace",
        "grace-eleven-days": "lapsed",
        "forgotten-active": "lapsed",
        "customer": None,
    }
    # other nightly kinds (ams.catalog_import) run too; this test is about the sweep
    [sweep] = [job for job in response.get_json()["jobs_run"] if job["kind"] == "ams.membership_sweep"]
    assert sweep["state"] == "done"
    assert sweep["result"] == {"to_grace": 1, "to_lapsed": 2, "date": sweep_day.isoformat()}
    assert dt.datetime.fromisoformat(sweep["due_at"]).astimezone(BERLIN).time() == dt.time(0, 5)
    pending = [job["kind"] for job in response.get_json()["pending_jobs"]]
    assert pending.count("ams.membership_sweep") == 1


def test_the_sweep_of_one_tenant_leaves_another_tenants_members_alone(
    console: Any, db: Database, tenant_at_local_noon: Callable[..., dt.date]
) -> None:
    today = tenant_at_local_noon("acme")
    tenant_at_local_noon("other")
    add_member(db, "acme", "acme-expired@x.test", "active", today - dt.timedelta(days=5))
    add_member(db, "other", "other-expired@x.test", "active", today - dt.timedelta(days=5))

    console.post("/api/tenants/acme/clock/advance", json={"days": 1}, headers=ADMIN)

    assert statuses(db, "acme") == {"acme-expired": "grace"}
    assert statuses(db, "other") == {"other-expired": "active"}
