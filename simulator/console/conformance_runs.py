"""Past conformance runs, kept by the console: the table and the plain functions that store and read it.

``sandbox certify`` posts its JSON report (``conformance/report.schema.json``) with the admin key when a
run ends. Like scenario runs, they are not tenant-owned: the history of a tenant's certifications
outlives a reset or a delete of that tenant (no foreign key), and a tenant key sees only its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from simulator.core.clock import wall_now
from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.errors import NotFound


class ConformanceRun(Base):
    __tablename__ = "conformance_runs"
    __table_args__ = (
        Index("ix_conformance_runs_tenant_id", "tenant_id"),
        {"info": {"survives_reset": True}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suite: Mapped[str] = mapped_column(String(40))
    connector: Mapped[str] = mapped_column(String(2000))
    tenant_id: Mapped[str] = mapped_column(String(63))
    ok: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    must_failed: Mapped[int] = mapped_column(Integer)
    should_failed: Mapped[int] = mapped_column(Integer)
    not_judged: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    started_at: Mapped[str] = mapped_column(String(40))
    report: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def run_summary(run: ConformanceRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "suite": run.suite,
        "connector": run.connector,
        "tenant": run.tenant_id,
        "ok": run.ok,
        "checks": run.checks,
        "passed": run.passed,
        "must_failed": run.must_failed,
        "should_failed": run.should_failed,
        "not_judged": run.not_judged,
        "duration_ms": run.duration_ms,
        "started_at": run.started_at,
        "stored_at": run.stored_at.isoformat(),
    }


def store_run(session: Session, report: dict[str, Any]) -> dict[str, Any]:
    """Keep one run's report (as ``sandbox certify --json`` writes it)."""
    summary = report["summary"]
    target = report["target"]
    run = ConformanceRun(
        suite=report["suite"],
        connector=str(target.get("sp_entity_id") or target.get("connector") or "")[:2000],
        tenant_id=str(target.get("idp_tenant") or "")[:63],
        ok=report["ok"],
        checks=summary["checks"],
        passed=summary["passed"],
        must_failed=summary["must_failed"],
        should_failed=summary["should_failed"],
        not_judged=summary["not_judged"],
        duration_ms=report["duration_ms"],
        started_at=report["started_at"],
        report=report,
        stored_at=wall_now(),
    )
    session.add(run)
    session.flush()
    return run_summary(run)


def list_runs(
    session: Session, tenant_id: str | None = None, suite: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first; only one tenant's runs when ``tenant_id`` is given."""
    query = select(ConformanceRun).order_by(ConformanceRun.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(ConformanceRun.tenant_id == tenant_id)
    if suite is not None:
        query = query.where(ConformanceRun.suite == suite)
    return [run_summary(run) for run in session.scalars(query)]


def get_run(session: Session, run_id: int, tenant_id: str | None = None) -> dict[str, Any]:
    """One run with its whole report."""
    run = session.get(ConformanceRun, run_id)
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise NotFound(f"There is no conformance run {run_id}.", code="conformance_run_not_found")
    return run_summary(run) | {"report": run.report}
