"""Control API for the request journal: ``/api/tenants/{t}/journal`` (views only translate HTTP)."""

from __future__ import annotations

from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.core import journal
from simulator.core.db import INT64_MAX
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    authorized_tenant_id,
    database,
    no_content,
)

journal_tag = Tag(name="journal", description="Every AMS and LMS request of a tenant, redacted and bounded")

journal_api = APIBlueprint(
    "journal",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
)


class JournalQuery(RequestParameters):
    model_config = ConfigDict(extra="forbid")

    since: int = Field(
        0, ge=0, le=INT64_MAX, description="Only entries with a larger id (pass the last next_since)."
    )
    app: Literal["ams", "lms"] | None = None
    path: str | None = Field(
        None, max_length=2048, description="Glob (* and ?); '/api/*' is relative to /t/{tenant}."
    )
    status: int | None = Field(None, ge=100, le=599)
    method: str | None = Field(None, max_length=16)
    limit: int = Field(100, ge=1, le=1000)


class JournalEntryOut(BaseModel):
    id: int
    at: str
    app: str
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = Field(..., description="Null when the connection was reset.")
    response_headers: dict[str, str]
    response_body: str
    latency_ms: float
    fault: dict[str, Any] | None = Field(..., description="The fault rule that fired, if any.")
    remote_addr: str | None


class JournalPage(BaseModel):
    entries: list[JournalEntryOut] = Field(..., description="Oldest first.")
    next_since: int = Field(..., description="The largest id returned (or 'since' when none).")


@journal_api.get("/tenants/<tenant>/journal", tags=[journal_tag], responses={200: JournalPage, 422: Problem})
def read_journal(path: TenantPath, query: JournalQuery) -> dict[str, Any]:
    """Journal entries after ``since`` that match every given filter, oldest first."""
    tenant_id = authorized_tenant_id(path.tenant)
    entries, next_since = journal.list_entries(
        database(), tenant_id, journal.JournalFilter(**query.model_dump())
    )
    return {"entries": entries, "next_since": next_since}


@journal_api.delete("/tenants/<tenant>/journal", tags=[journal_tag], responses={204: None})
def clear_journal(path: TenantPath) -> Any:
    """Delete every journal entry of the tenant."""
    journal.clear_journal(database(), authorized_tenant_id(path.tenant))
    return no_content()
