"""Reading what the inbox stored: a member's CE transcript (with totals), activity, tags; the inbox log."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from simulator.ams.models import Member
from simulator.ams.writeback.models import InboxEntry, MemberTag, WritebackRecord
from simulator.core.errors import NotFound, ValidationFailed

CSV_COLUMNS = (
    "record_id", "completed_on", "activity_code", "activity_title", "credit_type", "credits", "score",
    "passed", "certificate_number",
)  # fmt: skip
INBOX_RESULTS = ("accepted", "duplicate", "rejected")


def _require_member(session: Session, tenant_id: str, member_id: str) -> None:
    exists = session.scalar(
        select(Member.pk).where(Member.tenant_id == tenant_id, Member.member_id == member_id)
    )
    if exists is None:
        raise NotFound(f"There is no member '{member_id}' in this tenant.", code="member_not_found")


def record_json(record: WritebackRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "destination": record.destination,
        "member_id": record.member_id,
        "activity_code": record.activity_code,
        "activity_title": record.activity_title,
        "completed_on": record.completed_on.isoformat(),
        "credit_type": record.credit_type,
        "credits": record.credits,
        "score": record.score,
        "passed": record.passed,
        "certificate_number": record.certificate_number,
        "value": record.value,
        "trigger": record.trigger,
        "format": record.format,
        "received_at": record.received_at.isoformat(),
    }


def transcript(session: Session, tenant_id: str, member_id: str) -> dict[str, Any]:
    """The member's CE transcript, with totals per credit type and per year and type; plus activity/tags."""
    _require_member(session, tenant_id, member_id)
    rows = list(
        session.scalars(
            select(WritebackRecord)
            .where(WritebackRecord.tenant_id == tenant_id, WritebackRecord.member_id == member_id)
            .order_by(WritebackRecord.completed_on, WritebackRecord.id)
        )
    )
    entries = [row for row in rows if row.destination == "ce_transcript"]
    by_type: dict[str, float] = defaultdict(float)
    by_year: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in entries:
        by_type[entry.credit_type or ""] += entry.credits or 0.0
        by_year[str(entry.completed_on.year)][entry.credit_type or ""] += entry.credits or 0.0
    tags = session.execute(
        select(MemberTag.kind, MemberTag.name)
        .where(MemberTag.tenant_id == tenant_id, MemberTag.member_id == member_id)
        .order_by(MemberTag.id)
    ).all()
    return {
        "member_id": member_id,
        "records": [record_json(entry) for entry in entries],
        "totals": {
            "by_credit_type": {kind: round(total, 2) for kind, total in sorted(by_type.items())},
            "by_year": {
                year: {kind: round(total, 2) for kind, total in sorted(kinds.items())}
                for year, kinds in sorted(by_year.items())
            },
        },
        "activity": [record_json(row) for row in rows if row.destination == "activity_history"],
        "badges": [name for kind, name in tags if kind == "badge"],
        "segments": [name for kind, name in tags if kind == "segment"],
    }


def transcript_csv(session: Session, tenant_id: str, member_id: str) -> str:
    """The CE transcript as CSV (one row per entry, the columns of :data:`CSV_COLUMNS`)."""
    document = transcript(session, tenant_id, member_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(document["records"])
    return out.getvalue()


def inbox_counts(session: Session, tenant_id: str) -> dict[str, int]:
    counts = dict.fromkeys(INBOX_RESULTS, 0)
    counts["accepted"] = (
        session.scalar(
            select(func.count()).select_from(WritebackRecord).where(WritebackRecord.tenant_id == tenant_id)
        )
        or 0
    )
    counts.update(
        session.execute(
            select(InboxEntry.result, func.count())
            .where(InboxEntry.tenant_id == tenant_id)
            .group_by(InboxEntry.result)
        ).all()
    )
    return counts


def list_inbox(
    session: Session, tenant_id: str, result: str | None, since: int | None, limit: int
) -> dict[str, Any]:
    """Inbox items oldest first, at most ``limit``, with the counts of every result.

    ``result="accepted"`` lists the stored records, ``"duplicate"`` / ``"rejected"`` the inbox log; both
    page with ``since`` (the last ``next_since``). Without ``result``, every item of both, in the order
    they were received; the stored records and the log number their items separately, so that listing
    does not page (``next_since`` is ``None``) and refuses ``since``.
    """
    if result is None and since is not None:
        raise ValidationFailed(
            "'since' pages one kind of item: give 'result' too (accepted records and the inbox log "
            "are numbered separately).",
            errors=[{"field": "since", "message": "needs 'result'"}],
        )
    if result is None:
        accepted = [_accepted_item(row) for row in _accepted(session, tenant_id, None, limit)]
        logged = [_log_item(row) for row in _logged(session, tenant_id, None, None, limit)]
        items = sorted(accepted + logged, key=_receipt_order)[:limit]
        next_since = None
    else:
        if result == "accepted":
            items = [_accepted_item(row) for row in _accepted(session, tenant_id, since, limit)]
        else:
            items = [_log_item(row) for row in _logged(session, tenant_id, result, since, limit)]
        next_since = items[-1]["id"] if items else since
    return {"items": items, "counts": inbox_counts(session, tenant_id), "next_since": next_since}


def _receipt_order(item: dict[str, Any]) -> tuple[dt.datetime, bool, int]:
    return dt.datetime.fromisoformat(item["received_at"]), item["result"] != "accepted", item["id"]


def _accepted(
    session: Session, tenant_id: str, since: int | None = None, limit: int | None = None
) -> list[WritebackRecord]:
    query = select(WritebackRecord).where(WritebackRecord.tenant_id == tenant_id)
    if since:
        query = query.where(WritebackRecord.id > since)
    return list(session.scalars(query.order_by(WritebackRecord.id).limit(limit)))


def _logged(
    session: Session, tenant_id: str, result: str | None, since: int | None = None, limit: int | None = None
) -> list[InboxEntry]:
    query = select(InboxEntry).where(InboxEntry.tenant_id == tenant_id)
    if result:
        query = query.where(InboxEntry.result == result)
    if since:
        query = query.where(InboxEntry.id > since)
    return list(session.scalars(query.order_by(InboxEntry.id).limit(limit)))


def _accepted_item(row: WritebackRecord) -> dict[str, Any]:
    return {"id": row.id, "result": "accepted", **record_json(row)}


def _log_item(entry: InboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "result": entry.result,
        "reason": entry.reason,
        "record_id": entry.record_id,
        "member_id": entry.member_id,
        "destination": entry.destination,
        "webhook_id": entry.webhook_id,
        "envelope": entry.envelope,
        "received_at": entry.received_at.isoformat(),
    }
