"""The request journal: every AMS and LMS request of a tenant, redacted, bounded and queryable.

One row per request (``journal_entries``): time, app, method, path, query, request headers and body,
status, response headers and body, latency, the fault that fired and the remote address. Secrets are
redacted (:mod:`simulator.core.redaction`) **before** storage, then bodies are truncated to
``journal_body_limit`` bytes — except that a body carrying a SAML message (a posted ``SAMLResponse``, an
auto-posting page) is kept up to :data:`SAML_BODY_LIMIT`: a signed response is larger than the default
limit, and cut short it could not be decoded on the console's entry page.

Bounded: each tenant keeps its ``settings.journal.max_entries`` newest rows. Trimming costs a walk over
that many index entries, so a process trims a tenant's journal on its first insert and then on every
:func:`trim_interval`-th (``max_entries // 50``, at least 1), in the transaction of that insert. Between
two trims a process adds at most ``trim_interval - 1`` rows, so a tenant's journal never holds more
than ``max_entries + P · (max_entries // 50)`` rows with P app processes writing to it (10,000 + 4 · 200
with the defaults and two workers for each of AMS and LMS); a journal of fewer than 100 entries is
trimmed on every insert, so it holds exactly ``max_entries``.

Example::

    record_request(db, "acme", JournalRecord(app="ams", method="GET", path="/t/acme/x", ...), 4096)
    entries, next_since = list_entries(db, "acme", JournalFilter(since=0, status=503))
    entry = get_entry(db, "acme", entries[0]["id"])
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, bindparam, delete, insert, or_, select

from simulator.core.db import INT64_MAX, Database
from simulator.core.errors import NotFound
from simulator.core.models import JournalEntry, Tenant
from simulator.core.prepared import Prepared
from simulator.core.redaction import redact_body_prefix, redact_form, redact_headers, scrub_text
from simulator.core.settings import JournalSettings

REDACTION_INPUT_LIMIT = 1024 * 1024
"""Bodies larger than this are not journaled at all (redacting them would cost too much)."""
SAML_BODY_LIMIT = 256 * 1024
"""Bytes kept of a body that carries a SAML message (when ``journal_body_limit`` is smaller)."""
TRIM_FRACTION = 50
"""A process trims a tenant's journal every ``max_entries // TRIM_FRACTION`` inserts (see above)."""

_journal = JournalEntry.__table__
_INSERT = Prepared(insert(_journal).returning(_journal.c.id))
_OLDEST_KEPT = (
    select(_journal.c.id)
    .where(_journal.c.tenant_id == bindparam("tenant_id"))
    .order_by(_journal.c.id.desc())
    .offset(bindparam("keep_offset"))
    .limit(1)
    .scalar_subquery()
)
_TRIM = Prepared(
    delete(_journal).where(_journal.c.tenant_id == bindparam("tenant_id"), _journal.c.id < _OLDEST_KEPT)
)
_MAX_ENTRIES = Prepared(select(Tenant.settings).where(Tenant.id == bindparam("tenant_id")))
"""Statements are built once: building one costs more than running it."""

_inserts_since_trim: dict[str, int] = {}
_trim_lock = threading.Lock()


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
    """Which entries to list: those after ``since`` that match every given criterion, oldest first.

    ``newest``: the last ``limit`` of them instead of the first (still listed oldest first), as
    ``tail`` starts. ``fault_fired``: only entries a fault rule fired on (``True``) or none did
    (``False``).
    """

    since: int = 0
    app: str | None = None
    path: str | None = None
    status: int | None = None
    method: str | None = None
    fault_fired: bool | None = None
    limit: int = 100
    newest: bool = False


def stored_body(body: bytes, content_type: str | None, limit: int) -> str:
    """A body as the journal keeps it: decoded, redacted, then cut to ``limit`` bytes (a body carrying a
    SAML message to at least :data:`SAML_BODY_LIMIT`)."""
    if not body:
        return ""
    if len(body) > REDACTION_INPUT_LIMIT:
        return f"[body of {len(body)} bytes not journaled]"
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL
    if limit < SAML_BODY_LIMIT and ("SAMLResponse" in text or "SAMLRequest" in text):
        limit = SAML_BODY_LIMIT
    return redact_body_prefix(text, content_type, limit)


def trim_interval(max_entries: int) -> int:
    """How many inserts a process makes into one tenant's journal between two trims."""
    return max(1, max_entries // TRIM_FRACTION)


def _trim_due(tenant_id: str, max_entries: int) -> bool:
    """Count one insert; true on the process's first insert for the tenant and every interval after."""
    with _trim_lock:
        since = _inserts_since_trim.get(tenant_id)
        if since is None or since + 1 >= trim_interval(max_entries):
            _inserts_since_trim[tenant_id] = 0
            return True
        _inserts_since_trim[tenant_id] = since + 1
        return False


def record_request(
    db: Database, tenant_id: str, record: JournalRecord, body_limit: int, max_entries: int | None = None
) -> int | None:
    """Store one request of an existing tenant (redacted) and keep the tenant's journal bounded.

    ``max_entries`` is the tenant's ``journal.max_entries`` when the caller already holds its settings
    (the middleware does); otherwise it is read here. Returns the new entry's id, or ``None`` when the
    tenant does not exist.
    """
    values = {
        "tenant_id": tenant_id,
        "at": record.at,
        "app": record.app,
        "method": record.method[:16],
        "path": scrub_text(record.path).replace("\x00", "\ufffd")[:2048],
        "query": redact_form(record.query) if record.query else "",
        "request_headers": redact_headers(record.request_headers),
        "request_body": stored_body(record.request_body, record.request_content_type, body_limit),
        "status": record.status,
        "response_headers": redact_headers(record.response_headers),
        "response_body": stored_body(record.response_body, record.response_content_type, body_limit),
        "latency_ms": round(record.latency_ms, 3),
        "fault": record.fault,
        "remote_addr": record.remote_addr[:64] if record.remote_addr else None,
    }
    if max_entries is None:
        found = db.first(_MAX_ENTRIES, {"tenant_id": tenant_id})
        if found is None:
            return None
        max_entries = JournalSettings.model_validate(found.settings.get("journal", {})).max_entries
    if not _trim_due(tenant_id, max_entries):
        return db.first(_INSERT, values).id
    with db.prepared_transaction() as transaction:
        entry_id = transaction.first(_INSERT, values).id
        transaction.run(_TRIM, {"tenant_id": tenant_id, "keep_offset": max_entries - 1})
    return entry_id


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
    if query.fault_fired is not None:
        # "no fault" is stored as JSON null (what the JSON type makes of None); SQL NULL counts as none too
        no_fault = or_(JournalEntry.fault.is_(None), JournalEntry.fault == JSON.NULL)
        statement = statement.where(~no_fault if query.fault_fired else no_fault)
    if query.path:
        pattern = query.path
        if pattern.startswith("/") and not pattern.startswith("/t/"):
            pattern = f"/t/{tenant_id}{pattern}"
        statement = statement.where(JournalEntry.path.like(glob_to_like(pattern), escape="\\"))
    order = JournalEntry.id.desc() if query.newest else JournalEntry.id
    statement = statement.order_by(order).limit(query.limit)
    with db.read() as session:
        entries = [entry_out(entry) for entry in session.scalars(statement)]
    if query.newest:
        entries.reverse()
    next_since = entries[-1]["id"] if entries else query.since
    return entries, next_since


def get_entry(db: Database, tenant_id: str, entry_id: int) -> dict[str, Any]:
    """One entry of the tenant (:func:`entry_out`); an entry of another tenant is reported as missing."""
    with db.read() as session:
        entry = session.get(JournalEntry, entry_id) if 0 < entry_id <= INT64_MAX else None
        if entry is None or entry.tenant_id != tenant_id:
            raise NotFound(
                f"Tenant '{tenant_id}' has no journal entry {entry_id}.", code="journal_entry_not_found"
            )
        return entry_out(entry)


def clear_journal(db: Database, tenant_id: str) -> int:
    """Delete every journal entry of the tenant; returns how many there were."""
    with db.session() as session:
        return session.execute(delete(JournalEntry).where(JournalEntry.tenant_id == tenant_id)).rowcount
