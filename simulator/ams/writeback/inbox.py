"""The writeback inbox service: verify a signed delivery, then store its records set-based.

One delivery (a single envelope or ``{"records": [...]}``) is checked in a handful of queries whatever its
size: members looked up with one ``IN``, duplicates found by id and by natural key with one query each,
accepted rows written with one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (a concurrent
copy that slipped past the checks becomes a duplicate, never a second row or an error). Each record gets
its own answer — accepted, duplicate or rejected with a reason — so a bad record never blocks the others.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from simulator.ams.models import Member
from simulator.ams.writeback.models import InboxEntry, InboxSecret, MemberTag, WritebackRecord
from simulator.ams.writeback.records import CanonicalRecord, Rejected, canonical_record
from simulator.core.clock import tenant_now, wall_now
from simulator.core.errors import SandboxError
from simulator.core.models import Tenant
from simulator.core.outbox import enqueue, subscriber_endpoints
from simulator.core.settings import TenantSettings
from simulator.core.webhooks import WebhookVerificationError, verify

CREDIT_RECORDED = "credit.recorded"
IN_CHUNK = 900


def add_inbox_secret(session: Session, tenant_id: str, secret: str) -> None:
    """Trust ``secret`` for signatures on the tenant's inbox (keep the old one too while rotating)."""
    session.add(InboxSecret(tenant_id=tenant_id, secret=secret, created_at=wall_now()))


def verify_delivery(session: Session, tenant_id: str, headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's ``webhook-id`` when its signature and timestamp check out, else a 401 error."""
    secrets = list(session.scalars(select(InboxSecret.secret).where(InboxSecret.tenant_id == tenant_id)))
    try:
        return verify(secrets, headers, body)
    except WebhookVerificationError as exc:
        raise SandboxError(exc.message, code=exc.reason, http_status=401) from exc


def log_refused_delivery(
    session: Session, tenant_id: str, reason: str, webhook_id: str | None, body: bytes
) -> None:
    """Keep a refused delivery (bad signature, stale timestamp, bad body) visible in the inbox log."""
    session.add(
        InboxEntry(
            tenant_id=tenant_id,
            record_id=None,
            result="rejected",
            reason=reason,
            webhook_id=webhook_id,
            envelope={"body_excerpt": body[:2000].decode("utf-8", "replace")},
            received_at=wall_now(),
        )
    )


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[start : start + IN_CHUNK] for start in range(0, len(values), IN_CHUNK)]


def _known_members(session: Session, tenant_id: str, member_ids: set[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(sorted(member_ids)):
        known.update(
            session.scalars(
                select(Member.member_id).where(Member.tenant_id == tenant_id, Member.member_id.in_(chunk))
            )
        )
    return known


def _stored_ids(session: Session, tenant_id: str, record_ids: list[str]) -> set[str]:
    stored: set[str] = set()
    for chunk in _chunks(record_ids):
        stored.update(
            session.scalars(
                select(WritebackRecord.record_id).where(
                    WritebackRecord.tenant_id == tenant_id, WritebackRecord.record_id.in_(chunk)
                )
            )
        )
    return stored


def _stored_natural_keys(session: Session, tenant_id: str, records: list[CanonicalRecord]) -> set[tuple]:
    stored: set[tuple] = set()
    members = sorted({record.member_id for record in records})
    codes = sorted({record.activity_code for record in records})
    for member_chunk in _chunks(members):
        for code_chunk in _chunks(codes):
            stored.update(
                tuple(row)
                for row in session.execute(
                    select(
                        WritebackRecord.destination,
                        WritebackRecord.member_id,
                        WritebackRecord.activity_code,
                        WritebackRecord.completed_on,
                    ).where(
                        WritebackRecord.tenant_id == tenant_id,
                        WritebackRecord.member_id.in_(member_chunk),
                        WritebackRecord.activity_code.in_(code_chunk),
                    )
                )
            )
    return stored


def _dialect_insert(session: Session, table: Any) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def ingest(
    session: Session, tenant: Tenant, envelopes: list[Any], webhook_id: str | None
) -> list[dict[str, Any]]:
    """Store what can be stored of ``envelopes``; one result per envelope, in order."""
    now = tenant_now(tenant)
    received_at = wall_now()
    results: list[dict[str, Any]] = [{} for _ in envelopes]
    candidates: list[tuple[int, CanonicalRecord]] = []
    for index, envelope in enumerate(envelopes):
        try:
            candidates.append((index, canonical_record(envelope)))
        except Rejected as exc:
            record_id = envelope.get("id") if isinstance(envelope, dict) else None
            results[index] = {"id": record_id, "result": "rejected", "reason": exc.reason}
    known = _known_members(session, tenant.id, {record.member_id for _, record in candidates})
    stored_ids = _stored_ids(session, tenant.id, [record.record_id for _, record in candidates])
    stored_keys = _stored_natural_keys(session, tenant.id, [record for _, record in candidates])
    to_insert: list[tuple[int, CanonicalRecord]] = []
    for index, record in candidates:
        if record.member_id not in known:
            reason = f"unknown_member: no member '{record.member_id}' in this AMS"
            results[index] = {"id": record.record_id, "result": "rejected", "reason": reason}
        elif record.record_id in stored_ids:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": "duplicate_id"}
        elif record.natural_key in stored_keys:
            reason = "duplicate_natural_key: same member, activity and completion date"
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": reason}
        else:
            stored_ids.add(record.record_id)
            stored_keys.add(record.natural_key)
            to_insert.append((index, record))
    inserted = _insert_records(session, tenant.id, [record for _, record in to_insert], received_at)
    accepted: list[CanonicalRecord] = []
    for index, record in to_insert:
        if record.record_id in inserted:
            results[index] = {"id": record.record_id, "result": "accepted"}
            accepted.append(record)
        else:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": "duplicate_concurrent"}
    _log_refusals(session, tenant.id, envelopes, results, webhook_id, received_at)
    if accepted:
        _after_recording(session, tenant, accepted, now)
    return results


def _insert_records(
    session: Session, tenant_id: str, records: list[CanonicalRecord], received_at: dt.datetime
) -> set[str]:
    if not records:
        return set()
    rows = [
        {
            "tenant_id": tenant_id,
            "record_id": r.record_id,
            "destination": r.destination,
            "member_id": r.member_id,
            "activity_code": r.activity_code,
            "activity_title": r.activity_title,
            "completed_on": r.completed_on,
            "credit_type": r.credit_type,
            "credits": r.credits,
            "score": r.score,
            "passed": r.passed,
            "certificate_number": r.certificate_number,
            "value": r.value,
            "trigger": r.trigger,
            "format": r.format,
            "received_at": received_at,
        }
        for r in records
    ]
    table = WritebackRecord.__table__
    if session.get_bind().dialect.name == "sqlite":
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE) since before the duplicate
        # checks, so no other writer can have inserted these ids: a plain executemany is exact.
        session.connection().execute(table.insert(), rows)
        return {row["record_id"] for row in rows}
    statement = postgresql.insert(table).on_conflict_do_nothing().returning(table.c.record_id)
    return set(session.connection().execute(statement, rows).scalars())


def _log_refusals(
    session: Session,
    tenant_id: str,
    envelopes: list[Any],
    results: list[dict[str, Any]],
    webhook_id: str | None,
    received_at: dt.datetime,
) -> None:
    rows = []
    for envelope, result in zip(envelopes, results, strict=True):
        if result["result"] == "accepted":
            continue
        is_object = isinstance(envelope, dict)
        rows.append(
            {
                "tenant_id": tenant_id,
                "record_id": result.get("id") if isinstance(result.get("id"), str) else None,
                "result": result["result"],
                "reason": result.get("reason", ""),
                "member_id": str(envelope.get("member_id"))[:64] if is_object else None,
                "destination": str(envelope.get("destination"))[:20] if is_object else None,
                "webhook_id": webhook_id,
                "envelope": envelope if result["result"] == "rejected" else None,
                "received_at": received_at,
            }
        )
    if rows:
        session.execute(insert(InboxEntry), rows)


def _after_recording(
    session: Session, tenant: Tenant, records: list[CanonicalRecord], now: dt.datetime
) -> None:
    """Downstream effects: profile fields, badges and segments, and ``credit.recorded`` to subscribers."""
    settings = TenantSettings.model_validate(tenant.settings)
    tags: list[dict[str, Any]] = []
    for record in records:
        if record.destination == "badge":
            tags.append(_tag(tenant.id, record, "badge", record.activity_code, now))
        elif record.destination == "profile_field":
            member = session.scalar(
                select(Member).where(Member.tenant_id == tenant.id, Member.member_id == record.member_id)
            )
            if member is not None:
                member.profile = {**(member.profile or {}), record.activity_code: record.value}
                member.updated_at = now
        for action in settings.writeback.ams_actions:
            if action.destination not in (None, record.destination):
                continue
            if not fnmatch.fnmatchcase(record.activity_code, action.activity_code):
                continue
            names = {
                "activity_code": record.activity_code,
                "credit_type": record.credit_type or "",
                "destination": record.destination,
            }
            if action.segment:
                tags.append(_tag(tenant.id, record, "segment", action.segment.format(**names), now))
            if action.badge:
                tags.append(_tag(tenant.id, record, "badge", action.badge.format(**names), now))
    if tags:
        statement = _dialect_insert(session, MemberTag).on_conflict_do_nothing()
        session.execute(statement, tags)
    credits = [record for record in records if record.destination == "ce_transcript"]
    subscribers = subscriber_endpoints(session, tenant.id, CREDIT_RECORDED) if credits else []
    for endpoint in subscribers:
        for record in credits:
            enqueue(
                session,
                tenant.id,
                endpoint=endpoint,
                topic=CREDIT_RECORDED,
                message_id="cr_" + hashlib.sha256(f"{record.record_id}|{endpoint}".encode()).hexdigest()[:32],
                payload={
                    "type": CREDIT_RECORDED,
                    "timestamp": now.isoformat(),
                    "data": {
                        "record_id": record.record_id,
                        "member_id": record.member_id,
                        "activity_code": record.activity_code,
                        "activity_title": record.activity_title,
                        "credit_type": record.credit_type,
                        "credits": record.credits,
                        "completed_on": record.completed_on.isoformat(),
                    },
                },
                deliver_after=now,
            )


def _tag(tenant_id: str, record: CanonicalRecord, kind: str, name: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "member_id": record.member_id,
        "kind": kind,
        "name": name[:120],
        "source_record_id": record.record_id,
        "added_at": now,
    }
