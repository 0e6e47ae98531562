"""The writeback inbox service: verify a signed delivery, then store its records set-based.

One delivery (a single envelope or ``{"records": [...]}``) is checked in a handful of queries whatever its
size: members looked up with one ``IN``, duplicates by id found with one ``IN``, accepted rows written
with one executemany ``INSERT … ON CONFLICT DO NOTHING`` whose unique constraints catch duplicates by
natural key (member, activity, completion date) and copies that slipped past the checks — those are
explained by one more query, only when there are any. Each record gets its own answer — accepted,
duplicate or rejected with a reason — so a bad record never blocks the others.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from simulator.ams.models import Member
from simulator.ams.writeback.models import InboxEntry, InboxSecret, MemberTag, WritebackRecord
from simulator.ams.writeback.records import CanonicalRecord, Rejected, canonical_record
from simulator.core.clock import tenant_now, wall_now
from simulator.core.errors import SandboxError
from simulator.core.models import Tenant
from simulator.core.outbox import enqueue_many, subscriber_endpoints
from simulator.core.settings import TenantSettings
from simulator.core.tenancy import tenant_settings
from simulator.core.webhooks import WebhookVerificationError, verify

CREDIT_RECORDED = "credit.recorded"
IN_CHUNK = 900

# Built once: on the hot path, building a statement costs more than running it.
_SECRETS = select(InboxSecret.secret).where(InboxSecret.tenant_id == bindparam("tenant_id"))
_KNOWN_MEMBERS = select(Member.member_id).where(
    Member.tenant_id == bindparam("tenant_id"), Member.member_id.in_(bindparam("wanted", expanding=True))
)
_STORED_IDS = select(WritebackRecord.record_id).where(
    WritebackRecord.tenant_id == bindparam("tenant_id"),
    WritebackRecord.record_id.in_(bindparam("wanted", expanding=True)),
)


def add_inbox_secret(session: Session, tenant_id: str, secret: str) -> None:
    """Trust ``secret`` for signatures on the tenant's inbox (keep the old one too while rotating)."""
    session.add(InboxSecret(tenant_id=tenant_id, secret=secret, created_at=wall_now()))


def verify_delivery(session: Session, tenant_id: str, headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's ``webhook-id`` when its signature and timestamp check out, else a 401 error."""
    secrets = list(session.connection().execute(_SECRETS, {"tenant_id": tenant_id}).scalars())
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


def _found(session: Session, statement: Any, tenant_id: str, wanted: list[str]) -> set[str]:
    """The values of ``wanted`` that ``statement`` (one of the prebuilt ``IN`` queries) finds."""
    connection = session.connection()
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(connection.execute(statement, {"tenant_id": tenant_id, "wanted": chunk}).scalars())
    return found


def _known_members(session: Session, tenant_id: str, member_ids: set[str]) -> set[str]:
    return _found(session, _KNOWN_MEMBERS, tenant_id, sorted(member_ids))


def _stored_ids(session: Session, tenant_id: str, record_ids: list[str]) -> set[str]:
    return _found(session, _STORED_IDS, tenant_id, record_ids)


def _dialect_insert(session: Session, table: Any) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def ingest(
    session: Session,
    tenant: Tenant,
    envelopes: list[Any],
    webhook_id: str | None,
    settings: TenantSettings | None = None,
) -> list[dict[str, Any]]:
    """Store what can be stored of ``envelopes``; one result per envelope, in order.

    Duplicates by id are found before the insert (one indexed ``IN``); duplicates by natural key are
    left to the database's unique constraint (``ON CONFLICT DO NOTHING``) and explained afterwards,
    so the common case — nothing doubled — costs no natural-key query at all.
    """
    settings = settings or tenant_settings(tenant)
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
    batch_keys: set[tuple] = set()
    to_insert: list[tuple[int, CanonicalRecord]] = []
    for index, record in candidates:
        if record.member_id not in known:
            reason = f"unknown_member: no member '{record.member_id}' in this AMS"
            results[index] = {"id": record.record_id, "result": "rejected", "reason": reason}
        elif record.record_id in stored_ids:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": "duplicate_id"}
        elif record.natural_key in batch_keys:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": NATURAL_KEY_DUPLICATE}
        else:
            stored_ids.add(record.record_id)
            batch_keys.add(record.natural_key)
            to_insert.append((index, record))
    inserted = _insert_records(session, tenant.id, [record for _, record in to_insert], received_at)
    accepted: list[CanonicalRecord] = []
    refused: list[tuple[int, CanonicalRecord]] = []
    for index, record in to_insert:
        if inserted is None or record.record_id in inserted:
            results[index] = {"id": record.record_id, "result": "accepted"}
            accepted.append(record)
        else:
            refused.append((index, record))
    if refused:
        _explain_refused_inserts(session, tenant.id, refused, results)
    _log_refusals(session, tenant.id, envelopes, results, webhook_id, received_at)
    if accepted:
        _after_recording(session, tenant, settings, accepted, now)
    return results


NATURAL_KEY_DUPLICATE = "duplicate_natural_key: same member, activity and completion date"


def _explain_refused_inserts(
    session: Session,
    tenant_id: str,
    refused: list[tuple[int, CanonicalRecord]],
    results: list[dict[str, Any]],
) -> None:
    """Records the unique constraints turned away: same natural key as a stored record, or (PostgreSQL)
    the same id stored by a concurrent delivery since the duplicate check."""
    present = _stored_ids(session, tenant_id, [record.record_id for _, record in refused])
    for index, record in refused:
        if record.record_id in present:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": "duplicate_concurrent"}
        else:
            results[index] = {"id": record.record_id, "result": "duplicate", "reason": NATURAL_KEY_DUPLICATE}


RECORD_COLUMNS = (
    "tenant_id",
    "record_id",
    "destination",
    "member_id",
    "activity_code",
    "activity_title",
    "completed_on",
    "credit_type",
    "credits",
    "score",
    "passed",
    "certificate_number",
    "value",
    "trigger",
    "format",
    "received_at",
)


# The table and column names are constants; the values are bound parameters.
SQLITE_INSERT = (
    f"INSERT INTO {WritebackRecord.__tablename__} ({', '.join(RECORD_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in RECORD_COLUMNS)}) ON CONFLICT DO NOTHING"
)


def _record_values(tenant_id: str, r: CanonicalRecord, received_at: Any) -> tuple[Any, ...]:
    return (
        tenant_id,
        r.record_id,
        r.destination,
        r.member_id,
        r.activity_code,
        r.activity_title,
        r.completed_on,
        r.credit_type,
        r.credits,
        r.score,
        r.passed,
        r.certificate_number,
        r.value,
        r.trigger,
        r.format,
        received_at,
    )


def _insert_records(
    session: Session, tenant_id: str, records: list[CanonicalRecord], received_at: dt.datetime
) -> set[str] | None:
    """Insert ``records``, skipping any that a unique constraint refuses; returns the ids inserted, or
    ``None`` when every one was."""
    if not records:
        return None
    table = WritebackRecord.__table__
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "sqlite":
        # The hottest statement of the inbox, so straight to the driver's executemany: the values are
        # converted once by the columns' own bind processors (what Core would do per row), and the
        # total row count says whether any row was skipped. This transaction holds SQLite's write lock
        # (BEGIN IMMEDIATE) since before the duplicate checks, so no other writer races it.
        processors = [table.c[name].type.bind_processor(dialect) for name in RECORD_COLUMNS]
        stamp = processors[-1](received_at) if processors[-1] else received_at
        date_of = processors[RECORD_COLUMNS.index("completed_on")] or (lambda value: value)
        passed_of = processors[RECORD_COLUMNS.index("passed")] or (lambda value: value)
        rows = []
        for record in records:
            values = list(_record_values(tenant_id, record, stamp))
            values[6] = date_of(values[6])
            values[10] = passed_of(values[10])
            rows.append(tuple(values))
        count = connection.exec_driver_sql(SQLITE_INSERT, rows).rowcount
        if count == len(rows):
            return None
        wanted = [record.record_id for record in records]
        return _stored_ids(session, tenant_id, wanted)
    rows_by_name = [
        dict(zip(RECORD_COLUMNS, _record_values(tenant_id, r, received_at), strict=True)) for r in records
    ]
    statement = postgresql.insert(table).on_conflict_do_nothing().returning(table.c.record_id)
    inserted = set(connection.execute(statement, rows_by_name).scalars())
    return None if len(inserted) == len(records) else inserted


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
    session: Session,
    tenant: Tenant,
    settings: TenantSettings,
    records: list[CanonicalRecord],
    now: dt.datetime,
) -> None:
    """Downstream effects: profile fields, badges and segments, and ``credit.recorded`` to subscribers."""
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
        enqueue_many(
            session,
            tenant.id,
            endpoint=endpoint,
            topic=CREDIT_RECORDED,
            messages=[
                (
                    "cr_" + hashlib.sha256(f"{record.record_id}|{endpoint}".encode()).hexdigest()[:32],
                    {
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
                )
                for record in credits
            ],
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
