"""The request journal: every AMS and LMS request of a tenant, redacted, bounded and queryable.

One row per request (``journal_entries``): time, app, method, path, query, request headers and body,
status, response headers and body, latency, the fault that fired and the remote address. Secrets are
redacted (:mod:`simulator.core.redaction`) **before** storage, then bodies are truncated to
``journal_body_limit`` bytes. Each tenant keeps at most ``settings.journal.max_entries`` newest rows:
the insert and the deletion of older rows happen in one transaction, so the table stays bounded
(concurrent writers can overshoot by at most their number until the next insert trims again).

Example::

    record_request(db, "acme", JournalRecord(app="ams", method="GET", path="/t/acme/x", ...), 4096)
    entries, next_since = list_entries(db, "acme", JournalFilter(since=0, status=503))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from simulator.core.db import Database
from simulator.core.models import JournalEntry, Tenant
from simulator.core.redaction import redact_body_prefix, redact_form, redact_headers, scrub_text
from simulator.core.settings import JournalSettings

REDACTION_INPUT_LIMIT = 1024 * 1024
"""Bodies larger than this are not journaled at all (redacting them would cost too much)."""


@dataclass
class JournalRecord:
    """What the journal middleware saw of one request (raw: :func:`record_request` redacts it)."""

    at: dt.datetime
    app: str
    method: str
    path: str
    query: str = ""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    request_content_type: str | None = None
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    latency_ms: float = 0.0
    fault: dict[str, Any] | None = None
    remote_addr: str | None = None

    @property
    def response_content_type(self) -> str | None:
        for name, value in self.response_headers:
            if name.lower() == "content-type":
                return value
        return None


@dataclass(frozen=True)
class JournalFilter:
    """Which entries to list: those after ``since`` that match every given criterion, oldest first."""

    since: int = 0
    app: str | None = None
    path: str | None = None
    status: int | None = None
    method: str | None = None
    limit: int = 100


def stored_body(body: bytes, content_type: str | None, limit: int) -> str:
    """A body as the journal keeps it: decoded, redacted, then cut to ``limit`` bytes."""
    if not body:
        return ""
    if len(body) > REDACTION_INPUT_LIMIT:
        return f"[body of {len(body)} bytes not journaled]"
    return redact_body_prefix(body.decode("utf-8", errors="replace"), content_type, limit)


def record_request(db: Database, tenant_id: str, record: JournalRecord, body_limit: int) -> int | None:
    """Store one request of an existing tenant (redacted) and drop entries beyond the tenant's bound.

    Returns the new entry's id, or ``None`` when the tenant does not exist.
    """
    entry = JournalEntry(
        tenant_id=tenant_id,
        at=record.at,
        app=record.app,
        method=record.method[:16],
        path=scrub_text(record.path)[:2048],
        query=redact_form(record.query),
        request_headers=redact_headers(record.request_headers),
        request_body=stored_body(record.request_body, record.request_content_type, body_limit),
        status=record.status,
        response_headers=redact_headers(record.response_headers),
        response_body=stored_body(record.response_body, record.response_content_type, body_limit),
        latency_ms=round(record.latency_ms, 3),
        fault=record.fault,
        remote_addr=record.remote_addr[:64] if record.remote_addr else None,
    )
    with db.session() as session:
        settings = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
        if settings is None:
            return None
        max_entries = JournalSettings.model_validate(settings.get("journal", {})).max_entries
        session.add(entry)
        session.flush()
        oldest_kept = (
            select(JournalEntry.id)
            .where(JournalEntry.tenant_id == tenant_id)
            .order_by(JournalEntry.id.desc())
            .offset(max_entries - 1)
            .limit(1)
            .scalar_subquery()
        )
        session.execute(
            delete(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.id < oldest_kept)
        )
        return entry.id


def glob_to_like(pattern: str) -> str:
    """An fnmatch-style glob (``*`` and ``?``) as a SQL LIKE pattern with ``\\`` as escape."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def entry_out(entry: JournalEntry) -> dict[str, Any]:
    """A journal entry as the control API shows it."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "app": entry.app,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "request_headers": entry.request_headers,
        "request_body": entry.request_body,
        "status": entry.status,
        "response_headers": entry.response_headers,
        "response_body": entry.response_body,
        "latency_ms": entry.latency_ms,
        "fault": entry.fault,
        "remote_addr": entry.remote_addr,
    }


def list_entries(db: Database, tenant_id: str, query: JournalFilter) -> tuple[list[dict[str, Any]], int]:
    """Entries after ``query.since``, oldest first, and the ``since`` to pass next time.

    ``path`` is a glob over the full path; one starting with ``/`` but not ``/t/`` is taken relative to
    the tenant (``/api/*`` means ``/t/{tenant}/api/*``), as in fault rules. It becomes a SQL ``LIKE``,
    which SQLite compares case-insensitively.
    """
    statement = select(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.id > query.since)
    if query.app:
        statement = statement.where(JournalEntry.app == query.app)
    if query.method:
        statement = statement.where(JournalEntry.method == query.method.upper())
    if query.status is not None:
        statement = statement.where(JournalEntry.status == query.status)
    if query.path:
        pattern = query.path
        if pattern.startswith("/") and not pattern.startswith("/t/"):
            pattern = f"/t/{tenant_id}{pattern}"
        statement = statement.where(JournalEntry.path.like(glob_to_like(pattern), escape="\\"))
    statement = statement.order_by(JournalEntry.id).limit(query.limit)
    with db.read() as session:
        entries = [entry_out(entry) for entry in session.scalars(statement)]
    next_since = entries[-1]["id"] if entries else query.since
    return entries, next_since


def clear_journal(db: Database, tenant_id: str) -> int:
    """Delete every journal entry of the tenant; returns how many there were."""
    with db.session() as session:
        return session.execute(delete(JournalEntry).where(JournalEntry.tenant_id == tenant_id)).rowcount
