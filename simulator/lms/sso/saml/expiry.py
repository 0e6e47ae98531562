"""Forgetting the LMS SP's one-time SAML values once their time is up, as due work.

The SP keeps two tables of one-time values (see ``validation.py`` and ``sp.py``): the AuthnRequests it
sent and still waits for (``lms_saml_requests``, so an ``InResponseTo`` is used up once) and the assertion
IDs it consumed (``lms_saml_seen_assertions``, so a replay is refused, SAML profiles §4.1.4.5). A row
that has expired no longer protects anything: an expired request is refused by its ``expires_at``, an
expired assertion by its own ``NotOnOrAfter``. They are removed as due work
(``lms.saml.expired_purge``) by **wall-clock** time, never by the tenant's business clock, for the
reason ``simulator.ams.idp.oidc.assertions`` gives: a clock advance must not forget a live assertion.

Example::

    from simulator.core.jobs import run_due_jobs

    run_due_jobs(db, "acme")  # among the summaries: {"kind": "lms.saml.expired_purge", ...}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.jobs import register_due_work
from simulator.core.prepared import Prepared
from simulator.lms.sso.models import PendingAuthnRequest, SeenAssertion

PURGE_WORK = "lms.saml.expired_purge"
_TABLES = (PendingAuthnRequest, SeenAssertion)
_EARLIEST_EXPIRED = [
    Prepared(
        select(func.min(table.expires_at)).where(
            table.tenant_id == bindparam("tenant_id"), table.expires_at < bindparam("now")
        )
    )
    for table in _TABLES
]
_PURGE_EXPIRED = [
    Prepared(
        delete(table).where(table.tenant_id == bindparam("tenant_id"), table.expires_at < bindparam("now"))
    )
    for table in _TABLES
]


def earliest_expired(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    """When the earliest expired request or assertion of ``tenant_id`` expired (``until`` does not apply)."""
    now = wall_now()
    found = [
        row[0]
        for query in _EARLIEST_EXPIRED
        if (row := db.first(query, {"tenant_id": tenant_id, "now": now}))
    ]
    found = [moment for moment in found if moment is not None]
    return min(found) if found else None


def purge_expired(db: Database, tenant_id: str, until: dt.datetime, simulated: bool) -> dict[str, Any] | None:
    """Forget ``tenant_id``'s expired pending requests and seen assertions; None if there were none."""
    now = wall_now()
    requests, assertions = (db.run(query, {"tenant_id": tenant_id, "now": now}) for query in _PURGE_EXPIRED)
    if not requests and not assertions:
        return None
    result = {"requests": requests, "assertions": assertions}
    return {"kind": PURGE_WORK, "due_at": now.isoformat(), "state": "done", "result": result}


register_due_work(PURGE_WORK, earliest_expired, purge_expired)
