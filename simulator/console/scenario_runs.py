"""Past scenario runs, kept by the console: the table and the plain functions that store and read it.

A run is stored by whoever ran it (``sandbox scenario run`` posts its result with the admin key). Runs
are not tenant-owned: a run's fresh tenant is usually deleted when the run ends, and its history must
outlive it, so the table has no foreign key to ``tenants`` and a tenant reset or delete leaves it alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from simulator.core.clock import wall_now
from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.errors import NotFound


class ScenarioRun(Base):
    __tablename__ = "scenario_runs"
    __table_args__ = (
        Index("ix_scenario_runs_tenant_id", "tenant_id"),
        {"info": {"survives_reset": True}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario: Mapped[str] = mapped_column(String(200))
    file: Mapped[str] = mapped_column(String(1000))
    tenant_id: Mapped[str] = mapped_column(String(63))
    ok: Mapped[bool] = mapped_column(Boolean)
    steps: Mapped[int] = mapped_column(Integer)
    failed_step: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(2000))
    duration_ms: Mapped[float] = mapped_column(Float)
    started_at: Mapped[str] = mapped_column(String(40))
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def run_summary(run: ScenarioRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "scenario": run.scenario,
        "file": run.file,
        "tenant": run.tenant_id,
        "ok": run.ok,
        "steps": run.steps,
        "failed_step": run.failed_step,
        "error": run.error,
        "duration_ms": run.duration_ms,
        "started_at": run.started_at,
        "stored_at": run.stored_at.isoformat(),
    }


def store_run(session: Session, result: dict[str, Any]) -> dict[str, Any]:
    """Keep one run's result document (as the runner's JSON report writes it)."""
    error = result.get("error")
    run = ScenarioRun(
        scenario=str(result["scenario"])[:200],
        file=str(result.get("file", ""))[:1000],
        tenant_id=str(result.get("tenant", ""))[:63],
        ok=bool(result["ok"]),
        steps=len(result.get("steps", [])),
        failed_step=result.get("failed_step"),
        error=str(error)[:2000] if error else None,
        duration_ms=float(result.get("duration_ms", 0.0)),
        started_at=str(result.get("started_at", ""))[:40],
        result=result,
        stored_at=wall_now(),
    )
    session.add(run)
    session.flush()
    return run_summary(run)


def list_runs(
    session: Session, tenant_id: str | None = None, scenario: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first; only one tenant's runs when ``tenant_id`` is given."""
    query = select(ScenarioRun).order_by(ScenarioRun.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(ScenarioRun.tenant_id == tenant_id)
    if scenario is not None:
        query = query.where(ScenarioRun.scenario == scenario)
    return [run_summary(run) for run in session.scalars(query)]


def get_run(session: Session, run_id: int, tenant_id: str | None = None) -> dict[str, Any]:
    """One run with its whole result (timeline and observations)."""
    run = session.get(ScenarioRun, run_id)
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise NotFound(f"There is no scenario run {run_id}.", code="scenario_run_not_found")
    return run_summary(run) | {"result": run.result}
