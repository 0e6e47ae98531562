"""AMS writeback HTTP: the signed inbox ``POST /t/{t}/writeback/records`` (no API key: the signature is
the credential), and the tenant-key API over what it stored (transcripts, CSV, the inbox log)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from flask import Response, request
from flask_openapi3 import Tag
from pydantic import BaseModel, ConfigDict, Field, RootModel

from simulator.ams.writeback import inbox, transcript
from simulator.core import json_text
from simulator.core.db import INT64_MAX
from simulator.core.errors import BadRequest, SandboxError, ValidationFailed
from simulator.core.request_limits import refuse_nul_characters
from simulator.core.tenancy import tenant_settings
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    current_tenant,
    database,
    tenant_blueprint,
)

inbox_tag = Tag(
    name="writeback", description="Writeback inbox (Standard Webhooks signatures) and CE transcripts"
)
inbox_api = tenant_blueprint("writeback_inbox", __name__, [inbox_tag], prefix="/writeback")
writeback_api = tenant_blueprint("writeback_api", __name__, [inbox_tag], prefix="/api", secured=True)
READ_ERRORS: dict[Any, Any] = {401: Problem, 404: Problem}
CSV_RESPONSE = {
    "description": f"One row per CE transcript entry; columns: {', '.join(transcript.CSV_COLUMNS)}.",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


class RecordResult(BaseModel):
    id: str | None
    result: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class BulkResult(BaseModel):
    results: list[RecordResult]
    accepted: int
    duplicate: int
    rejected: int


class DeliveryResult(RootModel[BulkResult | RecordResult]):
    """200: a bulk delivery's result per record, or the `duplicate` result of one envelope sent again."""


class StoredRecord(BaseModel):
    """A record the inbox accepted and stored (see ``records.py`` for what each destination needs)."""

    record_id: str = Field(..., description="The sender's id; a record id is stored once (duplicates).")
    destination: str = Field(..., description="ce_transcript, activity_history, profile_field, badge…")
    member_id: str
    activity_code: str
    activity_title: str | None
    completed_on: dt.date
    credit_type: str | None
    credits: float | None
    score: float | None
    passed: bool | None
    certificate_number: str | None
    value: str | None = Field(..., description="The value a profile field, badge or segment record sets.")
    trigger: str | None = Field(..., description="What made the LMS send it (e.g. course_completed).")
    format: str | None = Field(..., description="The envelope format: flat (null), activity or xapi.")
    received_at: dt.datetime


class TranscriptTotals(BaseModel):
    by_credit_type: dict[str, float] = Field(..., description="Credits per credit type.")
    by_year: dict[str, dict[str, float]] = Field(..., description="Credits per year, then credit type.")


class Transcript(BaseModel):
    member_id: str
    records: list[StoredRecord] = Field(..., description="CE transcript entries, by completion date.")
    totals: TranscriptTotals
    activity: list[StoredRecord] = Field(..., description="Activity history records.")
    badges: list[str]
    segments: list[str]


class AcceptedInboxItem(StoredRecord):
    id: int = Field(..., description="Position among accepted records (page with `since`).")
    result: Literal["accepted"]


class LoggedInboxItem(BaseModel):
    """A delivery or record the inbox did not store: a duplicate, or a rejection with its reason."""

    id: int = Field(..., description="Position in the inbox log (page with `since`).")
    result: Literal["duplicate", "rejected"]
    reason: str
    record_id: str | None
    member_id: str | None
    destination: str | None
    webhook_id: str | None
    envelope: Any = Field(..., description="The envelope as received (any JSON; null if unreadable).")
    received_at: dt.datetime


class InboxCounts(BaseModel):
    accepted: int
    duplicate: int
    rejected: int


class InboxPage(BaseModel):
    items: list[Annotated[AcceptedInboxItem | LoggedInboxItem, Field(discriminator="result")]]
    counts: InboxCounts = Field(..., description="Every item of the tenant, per result.")
    next_since: int | None = Field(
        ..., description="Pass as `since` for the next page (null without `result`: no paging)."
    )


class MemberPath(TenantPath):
    member_id: str = Field(..., max_length=64)


class InboxQuery(RequestParameters):
    model_config = ConfigDict(extra="forbid")

    result: Literal["accepted", "duplicate", "rejected"] | None = None
    since: int | None = Field(None, ge=0, le=INT64_MAX, description="Return items after this id.")
    limit: int = Field(100, ge=1, le=1000)


def _parse(body: bytes, max_records: int) -> tuple[list[Any], bool]:
    try:
        document = json_text.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from exc
    refuse_nul_characters(document, body)  # 422: no record holds one, PostgreSQL stores none
    if isinstance(document, dict) and "records" in document:
        records = document["records"]
        if not isinstance(records, list):
            raise BadRequest("'records' must be a list of envelopes.", code="invalid_envelope")
        if len(records) > max_records:
            raise SandboxError(
                f"A bulk delivery holds at most {max_records} records (got {len(records)}).",
                code="too_many_records",
                http_status=413,
            )
        return records, True
    if not isinstance(document, dict):
        raise BadRequest('The body must be an envelope or {"records": [...]}.', code="invalid_envelope")
    return [document], False


@inbox_api.post(
    "/records",
    responses={
        200: DeliveryResult,
        201: RecordResult,
        400: Problem,
        401: Problem,
        413: Problem,
        422: Problem,
    },
)
def receive_records(path: TenantPath) -> Any:
    """Receive one envelope (201 accepted, 200 duplicate, 422 rejected) or `{"records": [...]}` (200 with
    a result per record). Requires valid `webhook-id`/`webhook-timestamp`/`webhook-signature` headers."""
    body = request.get_data(cache=True)
    tenant = current_tenant()  # read once for the request, its settings parsed once
    tenant_id = tenant.id
    refused: SandboxError | None = None
    with database().session() as session:
        try:
            webhook_id = inbox.verify_delivery(session, tenant_id, request.headers, body)
            settings = tenant_settings(tenant)
            envelopes, bulk = _parse(body, settings.writeback.batch_max_size)
        except SandboxError as exc:
            refused = exc
            inbox.log_refused_delivery(
                session, tenant_id, f"{exc.code}: {exc.message}", request.headers.get("webhook-id"), body
            )
        else:
            results = inbox.ingest(session, tenant, envelopes, webhook_id, settings)
    if refused is not None:
        raise refused
    if bulk:
        counts = {
            kind: sum(1 for r in results if r["result"] == kind)
            for kind in ("accepted", "duplicate", "rejected")
        }
        return {"results": results, **counts}
    result = results[0]
    if result["result"] == "rejected":
        raise ValidationFailed(
            f"The record was rejected: {result['reason']}.",
            code="record_rejected",
            errors=[{"field": "record", "message": result["reason"]}],
        )
    return result, 201 if result["result"] == "accepted" else 200


@writeback_api.get("/members/<member_id>/transcript", responses={200: Transcript, **READ_ERRORS})
def get_transcript(path: MemberPath) -> dict[str, Any]:
    """The member's CE transcript: entries, totals per credit type and year; activity, badges, segments."""
    with database().read() as session:
        return transcript.transcript(session, current_tenant().id, path.member_id)


@writeback_api.get("/members/<member_id>/transcript.csv", responses={200: CSV_RESPONSE, **READ_ERRORS})
def get_transcript_csv(path: MemberPath) -> Response:
    """The member's CE transcript as CSV."""
    with database().read() as session:
        text = transcript.transcript_csv(session, current_tenant().id, path.member_id)
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="transcript-{path.member_id}.csv"'},
    )


@writeback_api.get("/writeback/inbox", responses={200: InboxPage, **READ_ERRORS})
def list_inbox(path: TenantPath, query: InboxQuery) -> dict[str, Any]:
    """What the inbox received: accepted records, or duplicates and rejections with reasons; with counts."""
    with database().read() as session:
        return transcript.list_inbox(session, current_tenant().id, query.result, query.since, query.limit)
