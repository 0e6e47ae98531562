"""Reading writeback envelopes: the format's fields → one canonical record, validated for its destination.

The inbox understands the LMS's ready-made formats — ``ce_credit`` (flat), ``activity`` (type/subtype/
units/effective date/user fields) and ``xapi`` (a statement) — and reads a ``custom`` record by the
``ce_credit`` field names. What each destination requires:

- ``ce_transcript``: member, activity code, credits > 0, a known credit type (CLE, CPE, CME, CEU), date;
- ``activity_history``: member, activity code, date;
- ``profile_field``: member, field (``field``, else the activity code), value, date;
- ``badge``: member, badge name (``badge``, else ``completed-{activity code}``), date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from simulator.ams.writeback.models import CREDIT_TYPES, DESTINATIONS
from simulator.core.value_formats import CREDITS_EXTENSION

MAX_ID_LENGTH = 120


class Rejected(Exception):
    """A record the inbox cannot store; ``reason`` is ``code: explanation``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.reason = f"{code}: {detail}"


@dataclass
class CanonicalRecord:
    record_id: str
    destination: str
    member_id: str
    activity_code: str
    completed_on: dt.date
    activity_title: str | None = None
    credit_type: str | None = None
    credits: float | None = None
    score: float | None = None
    passed: bool | None = None
    certificate_number: str | None = None
    value: str | None = None
    trigger: str | None = None
    format: str | None = None

    @property
    def natural_key(self) -> tuple[str, str, str, dt.date]:
        return (self.destination, self.member_id, self.activity_code, self.completed_on)


def _text(value: Any, limit: int = 300) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Rejected("invalid_field", f"'{name}' must be a number")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Rejected("invalid_field", f"'{name}' must be a number, not {value!r}") from exc


def _date(value: Any) -> dt.date:
    if not value:
        raise Rejected("missing_field", "the completion date is required")
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise Rejected("invalid_field", f"completion date {text!r} is not an ISO date") from exc


def _flat_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "member_id": record.get("member_id"),
        "activity_code": record.get("activity_code"),
        "activity_title": record.get("activity_title"),
        "credit_type": record.get("credit_type"),
        "credits": record.get("credits"),
        "completion_date": record.get("completion_date") or record.get("completed_at"),
        "score": record.get("score"),
        "passed": record.get("passed"),
        "certificate_number": record.get("certificate_number"),
        "field": record.get("field"),
        "value": record.get("value"),
        "badge": record.get("badge"),
    }


def _activity_fields(record: dict[str, Any]) -> dict[str, Any]:
    user = record.get("user_fields") if isinstance(record.get("user_fields"), dict) else {}
    return {
        "member_id": record.get("member_id"),
        "activity_code": record.get("code"),
        "activity_title": record.get("description"),
        "credit_type": record.get("unit_type"),
        "credits": record.get("units"),
        "completion_date": record.get("effective_date"),
        "score": user.get("score"),
        "passed": user.get("passed"),
        "certificate_number": user.get("certificate_number"),
        "field": user.get("field"),
        "value": user.get("value"),
        "badge": user.get("badge"),
    }


def _xapi_fields(statement: dict[str, Any]) -> dict[str, Any]:
    def part(obj: Any, *keys: str) -> Any:
        for key in keys:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return obj

    object_id = part(statement, "object", "id")
    credits = part(statement, "result", "extensions", CREDITS_EXTENSION) or {}
    raw = part(statement, "result", "score", "raw")
    scaled = part(statement, "result", "score", "scaled")
    return {
        "member_id": part(statement, "actor", "account", "name"),
        "activity_code": str(object_id).rstrip("/").rsplit("/", 1)[-1] if object_id else None,
        "activity_title": part(statement, "object", "definition", "name", "en-US"),
        "credit_type": credits.get("type") if isinstance(credits, dict) else None,
        "credits": credits.get("amount") if isinstance(credits, dict) else None,
        "completion_date": statement.get("timestamp"),
        "score": raw if raw is not None else (scaled * 100 if isinstance(scaled, int | float) else None),
        "passed": part(statement, "result", "success"),
        "certificate_number": credits.get("certificate_number") if isinstance(credits, dict) else None,
        "field": None,
        "value": None,
        "badge": None,
    }


def canonical_record(envelope: Any) -> CanonicalRecord:
    """Read and validate one envelope; raises :class:`Rejected` with the reason when it is not storable."""
    if not isinstance(envelope, dict):
        raise Rejected("invalid_envelope", "a record must be a JSON object")
    record_id = envelope.get("id")
    if not isinstance(record_id, str) or not record_id or len(record_id) > MAX_ID_LENGTH:
        raise Rejected("invalid_envelope", f"'id' must be a string of 1–{MAX_ID_LENGTH} characters")
    destination = envelope.get("destination")
    if destination not in DESTINATIONS:
        raise Rejected("unknown_destination", f"destination must be one of {', '.join(DESTINATIONS)}")
    record = envelope.get("record")
    if not isinstance(record, dict):
        raise Rejected("invalid_envelope", "'record' must be a JSON object")
    value_format = envelope.get("format")
    reader = {"activity": _activity_fields, "xapi": _xapi_fields}.get(value_format, _flat_fields)
    fields = reader(record)
    member_id = _text(fields["member_id"] or envelope.get("member_id"), 64)
    if not member_id:
        raise Rejected("missing_field", "the member id is required")
    code = _text(fields["activity_code"], 120)
    canonical = CanonicalRecord(
        record_id=record_id,
        destination=destination,
        member_id=member_id,
        activity_code=code or "",
        completed_on=_date(fields["completion_date"]),
        activity_title=_text(fields["activity_title"]),
        credit_type=_text(fields["credit_type"], 8),
        credits=_number(fields["credits"], "credits"),
        score=_number(fields["score"], "score"),
        passed=fields["passed"] if isinstance(fields["passed"], bool) else None,
        certificate_number=_text(fields["certificate_number"], 80),
        trigger=_text(envelope.get("trigger"), 40),
        format=_text(value_format, 20),
    )
    if destination == "profile_field":
        canonical.activity_code = _text(fields["field"], 120) or canonical.activity_code
        canonical.value = _text(fields["value"], 2000) or canonical.activity_title or code
    elif destination == "badge":
        canonical.activity_code = _text(fields["badge"], 120) or (f"completed-{code}" if code else "")
    if not canonical.activity_code:
        raise Rejected("missing_field", "the activity code is required")
    if destination == "ce_transcript":
        if canonical.credit_type is None:
            raise Rejected("missing_field", "the credit type is required")
        if canonical.credit_type not in CREDIT_TYPES:
            raise Rejected(
                "unknown_credit_type", f"{canonical.credit_type!r} is not one of {', '.join(CREDIT_TYPES)}"
            )
        if canonical.credits is None or canonical.credits <= 0:
            raise Rejected("invalid_credits", "a CE transcript entry needs credits > 0")
    return canonical
