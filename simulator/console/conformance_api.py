"""Control API for conformance runs: the console keeps every certification report posted to it.

``POST /api/conformance-runs`` (admin key) stores a report as ``sandbox certify`` writes it (its JSON
Schema, generated from :class:`ConformanceReport`, is published as ``conformance/report.schema.json``);
``GET /api/conformance-runs`` lists runs newest first, ``GET /api/conformance-runs/{id}`` returns one with
its full report. A tenant key sees only the runs against its own tenant. Services:
:mod:`simulator.console.conformance_runs`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.console import conformance_runs
from simulator.core.web import (
    Problem,
    RequestParameters,
    created,
    database,
    require_admin,
    require_principal,
)

MAX_COUNT = 1_000_000
MAX_DURATION_MS = 7 * 86_400_000.0

conformance_tag = Tag(name="conformance", description="Certification runs of connectors and their reports")
conformance_api = APIBlueprint(
    "conformance_runs",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem},
)


class SentMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(..., max_length=2000, description="What the check sent, in a sentence.")
    message: str | None = Field(
        None, description="The message as sent (pretty-printed XML), capped at 64 KiB."
    )
    changed_lines: list[Annotated[int, Field(ge=1, le=MAX_COUNT)]] = Field(
        default_factory=list,
        max_length=MAX_COUNT,
        description="Lines of `message` that differ from the genuine one.",
    )
    diff: str | None = Field(None, description="The changed lines against the genuine message.")


class CheckReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., max_length=60, examples=["SAML-SP-XSW-3"])
    level: Literal["MUST", "SHOULD"] = Field(..., description="A MUST failure fails the certification.")
    group: str = Field(..., max_length=40)
    title: str = Field(..., max_length=400)
    spec: str = Field(..., max_length=400, description="The spec section the check enforces.")
    remediation: str = Field(..., max_length=2000)
    outcome: Literal["passed", "failed", "not_judged", "skipped"]
    reason: str = Field(..., max_length=4000, description="What was observed, in a sentence.")
    duration_ms: float = Field(..., ge=0, le=MAX_DURATION_MS)
    sent: SentMessage
    observed: dict[str, Any] = Field(
        ..., description="What the connector did (statuses, who was signed in…)."
    )


class ReportSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: int = Field(..., ge=0, le=MAX_COUNT)
    passed: int = Field(..., ge=0, le=MAX_COUNT)
    failed: int = Field(..., ge=0, le=MAX_COUNT)
    not_judged: int = Field(..., ge=0, le=MAX_COUNT)
    skipped: int = Field(..., ge=0, le=MAX_COUNT)
    must_failed: int = Field(..., ge=0, le=MAX_COUNT)
    should_failed: int = Field(..., ge=0, le=MAX_COUNT)


class ConformanceReport(BaseModel):
    """A conformance run's report, exactly as ``sandbox certify --json`` writes it."""

    model_config = ConfigDict(extra="forbid", title="Sandbox conformance report")

    report_version: Literal[1]
    suite: str = Field(..., min_length=1, max_length=40, examples=["saml-sp"])
    suite_title: str = Field(..., max_length=200)
    sandbox_version: str = Field(..., max_length=40)
    target_file: str = Field(..., max_length=1000)
    target: dict[str, Any] = Field(
        ..., description="The connector and the sandbox side it was certified with."
    )
    started_at: str = Field(..., max_length=40)
    duration_ms: float = Field(..., ge=0, le=MAX_DURATION_MS)
    ok: bool = Field(..., description="True when every MUST check passed: the connector is certified.")
    baseline: str = Field(..., max_length=4000, description="How the honest baseline went.")
    summary: ReportSummary
    checks: list[CheckReport] = Field(..., max_length=1000)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of a report (published as ``conformance/report.schema.json``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:ams-lms-sandbox:conformance-report:1",
        **ConformanceReport.model_json_schema(),
    }


class ConformanceRunSummary(BaseModel):
    id: int
    suite: str
    connector: str
    tenant: str
    ok: bool
    checks: int
    passed: int
    must_failed: int
    should_failed: int
    not_judged: int
    duration_ms: float
    started_at: str
    stored_at: str


class ConformanceRunList(BaseModel):
    runs: list[ConformanceRunSummary]


class ConformanceRunOut(ConformanceRunSummary):
    report: ConformanceReport


class ConformanceRunQuery(RequestParameters):
    model_config = ConfigDict(extra="forbid")

    suite: str | None = Field(None, max_length=40, description="Only runs of this suite.")
    limit: int = Field(50, ge=1, le=500)


class ConformanceRunPath(BaseModel):
    run_id: int = Field(..., ge=1, le=2**63 - 1, description="The run's id (`id` in the list).")


@conformance_api.post(
    "/conformance-runs",
    tags=[conformance_tag],
    responses={201: ConformanceRunSummary, 403: Problem, 422: Problem},
)
def store_run(body: ConformanceReport) -> tuple[Any, int, dict[str, str]]:
    """Keep a conformance run's report (admin key): `sandbox certify` posts it when a run ends."""
    require_admin()
    with database().session() as session:
        summary = conformance_runs.store_run(session, body.model_dump(mode="json"))
    return created(summary, f"/api/conformance-runs/{summary['id']}")


@conformance_api.get(
    "/conformance-runs", tags=[conformance_tag], responses={200: ConformanceRunList, 422: Problem}
)
def list_runs(query: ConformanceRunQuery) -> dict[str, Any]:
    """Past runs, newest first (a tenant key sees only the runs against its tenant)."""
    principal = require_principal()
    tenant_id = None if principal.is_admin else principal.tenant_id
    with database().read() as session:
        return {"runs": conformance_runs.list_runs(session, tenant_id, query.suite, query.limit)}


@conformance_api.get(
    "/conformance-runs/<int:run_id>", tags=[conformance_tag], responses={200: ConformanceRunOut, 404: Problem}
)
def get_run(path: ConformanceRunPath) -> dict[str, Any]:
    """One run with its full report."""
    principal = require_principal()
    tenant_id = None if principal.is_admin else principal.tenant_id
    with database().read() as session:
        return conformance_runs.get_run(session, path.run_id, tenant_id)
