"""Due jobs: work scheduled at a moment of a tenant's business time.

A job kind is registered once with :func:`job` (a one-off kind) or :func:`recurring_job` (a kind that
always has its next occurrence scheduled, such as the AMS's nightly membership sweep). Jobs run when the
tenant's clock passes their due time: during :func:`simulator.core.clock.advance_clock`, or when the
worker finds them due in real time. Each job is claimed atomically, so two processes never run it twice.

Example::

    @job("writeback.batch")
    def deliver_batch(ctx: JobContext) -> dict:
        ...
        return {"delivered": 12}

    schedule_job(session, "demo", "writeback.batch", due_at, {"rule": "nightly"})
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from simulator.core.clock import pinned_clock, tenant_now, wall_now
from simulator.core.db import Database
from simulator.core.models import ScheduledJob, Tenant
from simulator.core.settings import TenantSettings

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    session: Session
    tenant: Tenant
    settings: TenantSettings
    job: ScheduledJob

    @property
    def now(self) -> dt.datetime:
        return tenant_now(self.tenant)


JobHandler = Callable[[JobContext], dict[str, Any] | None]
NextOccurrence = Callable[[dt.datetime, TenantSettings], dt.datetime]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: JobHandler
    next_occurrence: NextOccurrence | None = None


_KINDS: dict[str, JobKind] = {}


def job(name: str) -> Callable[[JobHandler], JobHandler]:
    """Register ``handler`` for one-off jobs of kind ``name``."""

    def register(handler: JobHandler) -> JobHandler:
        _KINDS[name] = JobKind(name, handler)
        return handler

    return register


def recurring_job(name: str, next_occurrence: NextOccurrence) -> Callable[[JobHandler], JobHandler]:
    """Register a kind that always has one pending occurrence per tenant, after the previous one."""

    def register(handler: JobHandler) -> JobHandler:
        _KINDS[name] = JobKind(name, handler, next_occurrence)
        return handler

    return register


def registered_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


NextDue = Callable[[Database, str, dt.datetime], dt.datetime | None]
RunDue = Callable[[Database, str, dt.datetime, bool], dict[str, Any] | None]


@dataclass(frozen=True)
class DueWork:
    """Work that is not a job row but falls due on the business clock too (e.g. outbox deliveries).

    ``next_due(db, tenant, until)`` says when its earliest item became due (None: nothing by ``until``);
    ``run(db, tenant, until, simulated)`` does what is due by ``until`` and returns a summary, or None when
    it found nothing to do. ``simulated`` is true during a clock advance.
    """

    name: str
    next_due: NextDue
    run: RunDue


_DUE_WORK: dict[str, DueWork] = {}


def register_due_work(name: str, next_due: NextDue, run: RunDue) -> None:
    """Let :func:`run_due_jobs` drive ``run`` in time order with the due jobs."""
    _DUE_WORK[name] = DueWork(name, next_due, run)


def _earliest_due_work(
    db: Database, tenant_id: str, until: dt.datetime
) -> tuple[dt.datetime, DueWork] | None:
    found = [(due, work) for work in _DUE_WORK.values() if (due := work.next_due(db, tenant_id, until))]
    return min(found, key=lambda item: item[0]) if found else None


def _next_job_due(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    with db.read() as session:
        return session.scalar(
            select(ScheduledJob.due_at)
            .where(
                ScheduledJob.tenant_id == tenant_id,
                ScheduledJob.state == "pending",
                ScheduledJob.due_at <= until,
            )
            .order_by(ScheduledJob.due_at, ScheduledJob.id)
            .limit(1)
        )


def daily_at(hour: int, minute: int) -> NextOccurrence:
    """Next occurrence: the first local ``hour:minute`` strictly after a moment, in the tenant's zone."""

    def next_occurrence(after: dt.datetime, settings: TenantSettings) -> dt.datetime:
        local = after.astimezone(settings.zone)
        candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local:
            candidate = (local + dt.timedelta(days=1)).replace(
                hour=hour, minute=minute, second=0, microsecond=0
            )
        return candidate.astimezone(dt.UTC)

    return next_occurrence


def _insert_ignoring_duplicates(session: Session, values: dict[str, Any]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ScheduledJob).values(**values)
    session.execute(statement.on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"]))


def schedule_job(
    session: Session,
    tenant_id: str,
    kind: str,
    due_at: dt.datetime,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Schedule a job; with ``dedupe_key``, scheduling the same key twice keeps one job."""
    if kind not in _KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    _insert_ignoring_duplicates(
        session,
        {
            "tenant_id": tenant_id,
            "kind": kind,
            "due_at": due_at,
            "payload": payload or {},
            "dedupe_key": dedupe_key,
            "state": "pending",
            "attempts": 0,
            "created_at": wall_now(),
        },
    )


def ensure_recurring_jobs(session: Session, tenant: Tenant) -> None:
    """Give ``tenant`` the next occurrence of every recurring kind it lacks (after its clock's now)."""
    _ensure_recurring(session, tenant, TenantSettings.model_validate(tenant.settings), tenant_now(tenant))


def _ensure_recurring(session: Session, tenant: Tenant, settings: TenantSettings, after: dt.datetime) -> None:
    for kind in _KINDS.values():
        if kind.next_occurrence is None:
            continue
        pending = session.scalar(
            select(ScheduledJob.id).where(
                ScheduledJob.tenant_id == tenant.id,
                ScheduledJob.kind == kind.name,
                ScheduledJob.state.in_(("pending", "running")),
            )
        )
        if pending is None:
            due = kind.next_occurrence(after, settings)
            schedule_job(session, tenant.id, kind.name, due, dedupe_key=f"{kind.name}@{due.isoformat()}")


def pending_jobs(db: Database, tenant_id: str, limit: int = 50) -> list[ScheduledJob]:
    """The next jobs waiting for ``tenant_id``'s clock, earliest first."""
    with db.read() as session:
        return list(
            session.scalars(
                select(ScheduledJob)
                .where(ScheduledJob.tenant_id == tenant_id, ScheduledJob.state == "pending")
                .order_by(ScheduledJob.due_at, ScheduledJob.id)
                .limit(limit)
            )
        )


def _claim_next(db: Database, tenant_id: str, until: dt.datetime) -> int | None:
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return None
        settings = TenantSettings.model_validate(tenant.settings)
        _ensure_recurring(session, tenant, settings, tenant_now(tenant))
        candidate = session.scalar(
            select(ScheduledJob.id)
            .where(
                ScheduledJob.tenant_id == tenant_id,
                ScheduledJob.state == "pending",
                ScheduledJob.due_at <= until,
            )
            .order_by(ScheduledJob.due_at, ScheduledJob.id)
            .limit(1)
        )
        if candidate is None:
            return None
        claimed = session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.id == candidate, ScheduledJob.state == "pending")
            .values(state="running", attempts=ScheduledJob.attempts + 1)
        )
        return candidate if claimed.rowcount == 1 else -1


def _run_claimed(db: Database, job_id: int) -> dict[str, Any]:
    with db.session() as session:
        scheduled = session.get(ScheduledJob, job_id)
        assert scheduled is not None
        tenant = session.get(Tenant, scheduled.tenant_id)
        assert tenant is not None
        summary = {"id": scheduled.id, "kind": scheduled.kind, "due_at": scheduled.due_at.isoformat()}
        kind = _KINDS.get(scheduled.kind)
        settings = TenantSettings.model_validate(tenant.settings)
        if kind is None:
            scheduled.state, scheduled.last_error = "failed", f"no handler registered for {scheduled.kind!r}"
            scheduled.finished_at = wall_now()
            return {**summary, "state": "failed", "error": scheduled.last_error}
        try:
            with pinned_clock(tenant.id, scheduled.due_at), session.begin_nested():
                result = kind.handler(JobContext(session, tenant, settings, scheduled)) or {}
        except Exception as exc:
            log.exception("job %s (%s) for tenant %s failed", scheduled.id, scheduled.kind, tenant.id)
            scheduled.state, scheduled.last_error = "failed", f"{type(exc).__name__}: {exc}"
            scheduled.finished_at = wall_now()
            summary.update(state="failed", error=scheduled.last_error)
        else:
            scheduled.state, scheduled.result = "done", result
            scheduled.finished_at = wall_now()
            summary.update(state="done", result=result)
        if kind.next_occurrence is not None:
            due = kind.next_occurrence(scheduled.due_at, settings)
            schedule_job(session, tenant.id, kind.name, due, dedupe_key=f"{kind.name}@{due.isoformat()}")
        return summary


def run_due_jobs(db: Database, tenant_id: str, until: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Run ``tenant_id``'s pending jobs due at or before ``until`` (default: its clock's now), in order.

    Registered due work (:func:`register_due_work`) runs in between, whenever it fell due before the next
    job; an explicit ``until`` (a clock advance) runs it as simulated time.
    """
    simulated = until is not None
    if until is None:
        with db.read() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                return []
            until = tenant_now(tenant)
    ran = []
    while True:
        if _DUE_WORK and (work := _earliest_due_work(db, tenant_id, until)) is not None:
            job_due = _next_job_due(db, tenant_id, until)
            if job_due is None or work[0] <= job_due:
                summary = work[1].run(db, tenant_id, job_due or until, simulated)
                if summary is not None:
                    ran.append(summary)
                    continue
        job_id = _claim_next(db, tenant_id, until)
        if job_id is None:
            return ran
        if job_id == -1:  # another process claimed it first: look again
            continue
        ran.append(_run_claimed(db, job_id))


def run_all_due_jobs(db: Database) -> int:
    """One worker pass: run every tenant's due jobs; returns how many ran."""
    with db.read() as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    return sum(len(run_due_jobs(db, tenant_id)) for tenant_id in tenant_ids)
