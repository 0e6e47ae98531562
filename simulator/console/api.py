"""Control API: tenants, their settings and their clock (``/api/...``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulator.console import service
from simulator.console.overview import tenant_overview
from simulator.core import clock, tenancy
from simulator.core.db import INT32_MAX
from simulator.core.errors import BadRequest, SandboxError, ValidationFailed
from simulator.core.jobs import pending_jobs
from simulator.core.settings import TenantSettings, masked_settings, settings_schema
from simulator.core.web import (
    JSON_BODY_REQUIRED,
    Problem,
    TenantPath,
    app_state,
    authorized_tenant_id,
    created,
    database,
    no_content,
    require_admin,
    require_principal,
)

tenants_tag = Tag(name="tenants", description="Create, list, reset and delete sandbox tenants")
settings_tag = Tag(name="settings", description="Each tenant's settings document")
clock_tag = Tag(name="clock", description="Each tenant's simulated business clock")

control = APIBlueprint(
    "control",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem},
)
public = APIBlueprint("control_public", __name__, url_prefix="/api")
"""What anyone may read, with or without a key."""


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., description="1–63 lower-case letters, digits and dashes.", examples=["acme"])
    name: str | None = Field(None, max_length=200)
    seed: int = Field(0, ge=0, le=INT32_MAX, description="Faker seed: the same seed gives the same people.")
    members: int = Field(0, ge=0, le=200_000, description="Generated members besides the fixed personas.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Settings document (defaults fill gaps)."
    )
    clock_start: dt.datetime | None = Field(
        None,
        description="Freeze the tenant's business clock at this moment (ISO 8601 with zone) before seeding, "
        "so membership dates and everything after are reproducible (scenarios use it). Default: real time.",
    )

    @model_validator(mode="after")
    def _aware_clock_start(self) -> TenantCreate:
        if self.clock_start is not None and self.clock_start.tzinfo is None:
            raise ValueError("'clock_start' needs a time zone, e.g. 2026-03-02T09:00:00Z")
        return self


class TenantOut(BaseModel):
    id: str
    name: str
    seed: int
    seed_members: int
    created_at: str


class TenantCreated(TenantOut):
    api_key: str = Field(..., description="The tenant's API key. Shown once: keep it.")
    seeded: dict[str, int]


class TenantList(BaseModel):
    tenants: list[TenantOut]


class SeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, le=INT32_MAX)
    members: int = Field(0, ge=0, le=200_000)


class SeedResult(BaseModel):
    tenant: str
    seeded: dict[str, int]


class ApiKeyOut(BaseModel):
    api_key: str


MAX_ADVANCE = dt.timedelta(days=366)


class ClockAdvance(BaseModel):
    """How far to move business time: amounts that add up, or ``until`` a moment (at most a year a call)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(0, ge=0, le=MAX_ADVANCE.total_seconds())
    minutes: float = Field(0, ge=0, le=MAX_ADVANCE.total_seconds() / 60)
    hours: float = Field(0, ge=0, le=MAX_ADVANCE.total_seconds() / 3600)
    days: float = Field(0, ge=0, le=MAX_ADVANCE.days)
    until: dt.datetime | None = Field(
        None, description="Advance to this moment instead (ISO 8601 with zone)."
    )

    @model_validator(mode="after")
    def _one_way_of_saying_it(self) -> ClockAdvance:
        amount = self.seconds or self.minutes or self.hours or self.days
        if self.until is not None and amount:
            raise ValueError("give either 'until' or an amount (seconds/minutes/hours/days), not both")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("'until' needs a time zone, e.g. 2026-12-01T02:00:00Z")
        return self

    def delta_from(self, now: dt.datetime) -> dt.timedelta:
        """How far the clock moves from ``now``; an ``until`` before ``now`` is refused, naming ``until``."""
        if self.until is not None:
            delta = self.until - now
            if delta < dt.timedelta(0):
                raise ValidationFailed(
                    f"'until' ({self.until.isoformat()}) is before the tenant's business time "
                    f"({now.isoformat()}): the clock only moves forward.",
                    errors=[{"field": "until", "message": "must not be before the current business time"}],
                )
        else:
            delta = dt.timedelta(seconds=self.seconds, minutes=self.minutes, hours=self.hours, days=self.days)
        if delta > MAX_ADVANCE:
            raise ValidationFailed(
                "The clock moves at most 366 days per call (every due job on the way runs); "
                "call again for more.",
                errors=[{"field": "until" if self.until else "days", "message": "at most 366 days per call"}],
            )
        return delta


class ClockOut(BaseModel):
    tenant: str
    now: str
    local_now: str
    timezone: str
    wall_now: str
    offset_seconds: float
    frozen: bool
    jobs_run: list[dict[str, Any]] = Field(
        default_factory=list, description="Jobs that ran during an advance."
    )
    pending_jobs: list[dict[str, Any]] = Field(default_factory=list, description="Next jobs, earliest first.")


@control.get("/tenants", tags=[tenants_tag], responses={200: TenantList})
def list_tenants() -> dict[str, Any]:
    """Tenants the key can see (all of them for the admin key, its own for a tenant key)."""
    principal = require_principal()
    with database().read() as session:
        tenants = [t for t in tenancy.list_tenants(session) if principal.may_access(t.id)]
        return {"tenants": [service.tenant_summary(t) for t in tenants]}


@control.post(
    "/tenants", tags=[tenants_tag], responses={201: TenantCreated, 403: Problem, 409: Problem, 422: Problem}
)
def create_tenant(body: TenantCreate) -> tuple[Any, int, dict[str, str]]:
    """Create and seed a tenant (admin key). The response carries the tenant's API key, once."""
    require_admin()
    state = app_state()
    summary, api_key, seeded = service.create_seeded_tenant(
        state.db, state.config, body.id, body.name, body.settings, body.seed, body.members, body.clock_start
    )
    return created({**summary, "api_key": api_key, "seeded": seeded.counts()}, f"/api/tenants/{body.id}")


@control.get("/tenants/<tenant>", tags=[tenants_tag], responses={200: TenantOut, 404: Problem})
def get_tenant(path: TenantPath) -> dict[str, Any]:
    """One tenant."""
    principal = require_principal()
    with database().read() as session:
        return service.tenant_summary(tenancy.authorize_tenant(session, principal, path.tenant))


@control.delete("/tenants/<tenant>", tags=[tenants_tag], responses={204: None, 403: Problem, 404: Problem})
def delete_tenant(path: TenantPath) -> Any:
    """Delete a tenant and everything it owns (admin key)."""
    require_admin()
    with database().session() as session:
        tenancy.delete_tenant(session, path.tenant)
    return no_content()


@control.post("/tenants/<tenant>/reset", tags=[tenants_tag], responses={200: SeedResult, 404: Problem})
def reset_tenant(path: TenantPath) -> dict[str, Any]:
    """Throw the tenant's world away and rebuild it from its seed; its id and API key stay."""
    authorized_tenant_id(path.tenant)
    state = app_state()
    summary = service.reset_tenant(state.db, state.config, path.tenant)
    return {"tenant": path.tenant, "seeded": summary.counts()}


@control.post(
    "/tenants/<tenant>/seed", tags=[tenants_tag], responses={200: SeedResult, 422: Problem, 404: Problem}
)
def seed_tenant(path: TenantPath, body: SeedRequest) -> dict[str, Any]:
    """Replace the tenant's data with freshly seeded data; the new (seed, members) becomes its reset state."""
    authorized_tenant_id(path.tenant)
    state = app_state()
    summary = service.reseed_tenant(state.db, state.config, path.tenant, body.seed, body.members)
    return {"tenant": path.tenant, "seeded": summary.counts()}


@control.post("/tenants/<tenant>/api-key", tags=[tenants_tag], responses={200: ApiKeyOut, 404: Problem})
def rotate_api_key(path: TenantPath) -> dict[str, str]:
    """Issue a new API key for the tenant; the old one stops working at once."""
    authorized_tenant_id(path.tenant)
    with database().session() as session:
        return {"api_key": tenancy.rotate_api_key(session, path.tenant)}


@control.delete("/tenants/<tenant>/api-key", tags=[tenants_tag], responses={204: None, 404: Problem})
def revoke_api_key(path: TenantPath) -> Any:
    """Revoke the tenant's API key without issuing another: it stops working at once, in every process.
    Until the admin key issues a new one (``POST …/api-key``), only the admin key opens the tenant."""
    authorized_tenant_id(path.tenant)
    with database().session() as session:
        tenancy.revoke_api_key(session, path.tenant)
    return no_content()


class OverviewCounts(BaseModel):
    members: int
    members_by_status: dict[str, int] = Field(..., description="'none': prospects and non-members.")
    orders: int
    orders_by_status: dict[str, int]
    enrollments: int
    enrollments_by_status: dict[str, int]
    completions: int = Field(..., description="Enrollments with a completion date.")
    outbox_by_state: dict[str, int]
    inbox_by_result: dict[str, int]


class OverviewOut(BaseModel):
    tenant: str
    urls: dict[str, str] = Field(..., description="Every URL a connector points at, by name.")
    inbox_secret_fingerprints: list[str] = Field(
        ..., description="sha256: fingerprints of the secrets the writeback inbox trusts (never the secrets)."
    )
    counts: OverviewCounts


@control.get("/tenants/<tenant>/overview", tags=[tenants_tag], responses={200: OverviewOut, 404: Problem})
def get_overview(path: TenantPath) -> dict[str, Any]:
    """The tenant at a glance: connector URLs, inbox secret fingerprints and counts (the dashboard)."""
    state = app_state()
    return tenant_overview(state.db, state.config, authorized_tenant_id(path.tenant))


@control.get("/tenants/<tenant>/settings", tags=[settings_tag], responses={200: TenantSettings, 404: Problem})
def get_settings(path: TenantPath) -> dict[str, Any]:
    """The tenant's whole settings document."""
    principal = require_principal()
    with database().read() as session:
        return masked_settings(tenancy.authorize_tenant(session, principal, path.tenant).settings)


@control.patch(
    "/tenants/<tenant>/settings",
    tags=[settings_tag],
    responses={200: TenantSettings, 400: Problem, 415: Problem, 422: Problem, 404: Problem},
    openapi_extensions={
        "requestBody": {
            "description": "A JSON merge patch (RFC 7396) of the settings document.",
            "required": True,
            "content": {
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def patch_settings(path: TenantPath) -> dict[str, Any]:
    """Merge-patch the settings; the result is validated whole, and nothing changes when it is invalid."""
    authorized_tenant_id(path.tenant)
    if not request.is_json:  # application/json or application/merge-patch+json, as documented
        raise SandboxError(JSON_BODY_REQUIRED, code="unsupported_media_type", http_status=415)
    patch = request.get_json(silent=True, force=True)
    if patch is None:
        raise BadRequest("The request body must be a JSON object (a merge patch).", code="invalid_json")
    with database().session() as session:
        return masked_settings(tenancy.update_settings(session, path.tenant, patch).model_dump(mode="json"))


SETTINGS_SCHEMA_RESPONSE = {
    "description": "A JSON Schema document (what `TenantSettings` accepts, with defaults).",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@public.get("/schema/settings", tags=[settings_tag], responses={200: SETTINGS_SCHEMA_RESPONSE})
def get_settings_schema() -> dict[str, Any]:
    """JSON Schema of the settings document."""
    return settings_schema()


def _clock_body(state: clock.ClockState) -> dict[str, Any]:
    body = state.to_json()
    body["pending_jobs"] = [
        {"id": job.id, "kind": job.kind, "due_at": job.due_at.isoformat(), "payload": job.payload}
        for job in pending_jobs(database(), state.tenant_id, limit=20)
    ]
    return body


@control.get("/tenants/<tenant>/clock", tags=[clock_tag], responses={200: ClockOut, 404: Problem})
def get_clock(path: TenantPath) -> dict[str, Any]:
    """Business time for the tenant, and the jobs waiting for it."""
    return _clock_body(clock.read_clock(database(), authorized_tenant_id(path.tenant)))


@control.post(
    "/tenants/<tenant>/clock/advance", tags=[clock_tag], responses={200: ClockOut, 422: Problem, 404: Problem}
)
def advance_clock(path: TenantPath, body: ClockAdvance) -> dict[str, Any]:
    """Move business time forward; every job that becomes due runs, in time order, before this returns."""
    tenant_id = authorized_tenant_id(path.tenant)
    now = clock.read_clock(database(), tenant_id).now
    return _clock_body(clock.advance_clock(database(), tenant_id, body.delta_from(now)))


@control.post("/tenants/<tenant>/clock/freeze", tags=[clock_tag], responses={200: ClockOut, 404: Problem})
def freeze_clock(path: TenantPath) -> dict[str, Any]:
    """Stop business time (it then moves only when advanced)."""
    return _clock_body(clock.freeze_clock(database(), authorized_tenant_id(path.tenant)))


@control.post("/tenants/<tenant>/clock/resume", tags=[clock_tag], responses={200: ClockOut, 404: Problem})
def resume_clock(path: TenantPath) -> dict[str, Any]:
    """Let business time flow again from where it stands."""
    return _clock_body(clock.resume_clock(database(), authorized_tenant_id(path.tenant)))
