"""The simulated clock: per tenant, real time plus an offset, or frozen.

*Business time* (membership expiry, batch schedules, CE dates, grace periods) is read only through
:func:`tenant_now`. *Protocol time* (SAML IssueInstant, token ``exp``) stays on the wall clock so that
real connectors accept what the sandbox signs.

While the clock is advanced, each due job runs with the clock reading the job's own due time, so a
handler that reads :func:`tenant_now` sees the moment it was scheduled for, and jobs run in time order.

Example::

    now = tenant_now(tenant)
    result = advance_clock(db, "demo", dt.timedelta(days=1))   # runs every job that became due
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from simulator.core.db import Database
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.models import Tenant

_pinned_now: contextvars.ContextVar[dict[str, dt.datetime] | None] = contextvars.ContextVar(
    "pinned_now", default=None
)


def wall_now() -> dt.datetime:
    """Protocol time: the machine's real UTC time."""
    return dt.datetime.now(dt.UTC)


def tenant_now(tenant: Tenant) -> dt.datetime:
    """Business time for ``tenant`` (UTC, timezone-aware)."""
    pinned = _pinned_now.get()
    if pinned and tenant.id in pinned:
        return pinned[tenant.id]
    if tenant.clock_frozen_at is not None:
        return tenant.clock_frozen_at
    return wall_now() + dt.timedelta(seconds=tenant.clock_offset_seconds)


@contextmanager
def pinned_clock(tenant_id: str, moment: dt.datetime) -> Iterator[None]:
    """Make :func:`tenant_now` read ``moment`` for ``tenant_id`` inside the block (used by job runs)."""
    current = dict(_pinned_now.get() or {})
    current[tenant_id] = moment
    token = _pinned_now.set(current)
    try:
        yield
    finally:
        _pinned_now.reset(token)


@dataclass
class ClockState:
    tenant_id: str
    now: dt.datetime
    wall_now: dt.datetime
    offset_seconds: float
    frozen: bool
    timezone: str
    jobs_run: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        import zoneinfo

        zone = zoneinfo.ZoneInfo(self.timezone)
        return {
            "tenant": self.tenant_id,
            "now": self.now.isoformat(),
            "local_now": self.now.astimezone(zone).isoformat(),
            "timezone": self.timezone,
            "wall_now": self.wall_now.isoformat(),
            "offset_seconds": round(self.offset_seconds, 3),
            "frozen": self.frozen,
            "jobs_run": self.jobs_run,
        }


def _load(session: Any, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"There is no tenant '{tenant_id}'.", code="tenant_not_found")
    return tenant


def _state(tenant: Tenant, jobs_run: list[dict[str, Any]] | None = None) -> ClockState:
    now = tenant_now(tenant)
    return ClockState(
        tenant_id=tenant.id,
        now=now,
        wall_now=wall_now(),
        offset_seconds=(now - wall_now()).total_seconds()
        if tenant.clock_frozen_at
        else tenant.clock_offset_seconds,
        frozen=tenant.clock_frozen_at is not None,
        timezone=tenant.settings.get("timezone", "UTC"),
        jobs_run=jobs_run or [],
    )


def read_clock(db: Database, tenant_id: str) -> ClockState:
    with db.read() as session:
        return _state(_load(session, tenant_id))


def freeze_clock(db: Database, tenant_id: str) -> ClockState:
    """Stop business time where it is now."""
    with db.session() as session:
        tenant = _load(session, tenant_id)
        if tenant.clock_frozen_at is None:
            tenant.clock_frozen_at = tenant_now(tenant)
        return _state(tenant)


def resume_clock(db: Database, tenant_id: str) -> ClockState:
    """Let business time flow again from where it was frozen (the offset keeps the difference)."""
    with db.session() as session:
        tenant = _load(session, tenant_id)
        if tenant.clock_frozen_at is not None:
            tenant.clock_offset_seconds = (tenant.clock_frozen_at - wall_now()).total_seconds()
            tenant.clock_frozen_at = None
        return _state(tenant)


def advance_clock(db: Database, tenant_id: str, delta: dt.timedelta) -> ClockState:
    """Move business time forward by ``delta``, running every job that became due, in time order."""
    from simulator.core.jobs import run_due_jobs

    if delta < dt.timedelta(0):
        raise ValidationFailed(
            "The clock only moves forward: jobs that already ran cannot be undone.",
            errors=[{"field": "seconds", "message": "must not be negative"}],
        )
    with db.read() as session:
        start = tenant_now(_load(session, tenant_id))
    target = start + delta
    jobs_run = run_due_jobs(db, tenant_id, until=target)
    with db.session() as session:
        tenant = _load(session, tenant_id)
        if tenant.clock_frozen_at is not None:
            tenant.clock_frozen_at = tenant.clock_frozen_at + delta
        else:
            tenant.clock_offset_seconds = tenant.clock_offset_seconds + delta.total_seconds()
        return _state(tenant, jobs_run)
