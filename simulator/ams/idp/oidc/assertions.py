"""Used ``private_key_jwt`` client assertions: each ``jti`` is accepted once, whichever process it reaches.

RFC 7523 §3, item 7: the authorization server MAY ensure that JWTs are not replayed by maintaining the
set of ``jti`` values used for the time the JWT would be considered valid. The set is a table, not process
memory: accepting an assertion is an INSERT, and a replay (or a concurrent second use, on any worker or
host) breaks the (tenant, client, jti) unique constraint, on SQLite and PostgreSQL alike, as the LMS's
seen SAML assertions do.

Expired entries are removed as due work (``oidc.client_assertions.purge``) by **wall-clock** time, not by
the tenant's business clock: an assertion's ``exp`` is wall-clock time, and purging by a business clock
that a clock advance moved ahead would forget assertions that are still valid, so they could be replayed.

Example::

    if not record_assertion(db, "acme", "rp-1", claims["jti"], claims["exp"] + leeway):
        ...  # used before: refuse the client
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from simulator.ams.idp.models import OidcClientAssertion
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.jobs import register_due_work
from simulator.core.prepared import Prepared
from simulator.core.security import digest_key

PURGE_WORK = "oidc.client_assertions.purge"
LATEST_KEPT = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
"""An ``exp`` beyond what a timestamp column holds is kept until then (for as good as ever)."""

_RECORD = Prepared(insert(OidcClientAssertion))
"""A ``jti`` already recorded for the client breaks the (tenant_id, client_id, jti_digest) constraint."""
_EARLIEST_EXPIRED = Prepared(
    select(func.min(OidcClientAssertion.expires_at)).where(
        OidcClientAssertion.tenant_id == bindparam("tenant_id"),
        OidcClientAssertion.expires_at < bindparam("now"),
    )
)
_PURGE_EXPIRED = Prepared(
    delete(OidcClientAssertion).where(
        OidcClientAssertion.tenant_id == bindparam("tenant_id"),
        OidcClientAssertion.expires_at < bindparam("now"),
    )
)


def _kept_until(valid_until: float) -> dt.datetime:
    """The moment from which the assertion is refused anyway: ``valid_until`` rounded up to a second."""
    try:
        return min(dt.datetime.fromtimestamp(math.ceil(valid_until), dt.UTC), LATEST_KEPT)
    except (OverflowError, ValueError, OSError):  # beyond what a datetime holds
        return LATEST_KEPT


def record_assertion(db: Database, tenant_id: str, client_id: str, jti: str, valid_until: float) -> bool:
    """Record ``jti`` as used by ``client_id`` until ``valid_until`` (epoch seconds); False if it was used.

    One INSERT in its own transaction: of two requests racing with the same ``jti``, exactly one succeeds.
    """
    values = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "jti_digest": digest_key(jti),
        "expires_at": _kept_until(valid_until),
    }
    try:
        db.run(_RECORD, values)
    except IntegrityError:  # recorded before, or by a concurrent request
        return False
    return True


def earliest_expired(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    """When the earliest used assertion of ``tenant_id`` that may now be forgotten expired.

    ``until`` is the business clock's and does not apply (see the module docstring).
    """
    row = db.first(_EARLIEST_EXPIRED, {"tenant_id": tenant_id, "now": wall_now()})
    return row[0] if row is not None else None


def purge_expired(db: Database, tenant_id: str, until: dt.datetime, simulated: bool) -> dict[str, Any] | None:
    """Forget ``tenant_id``'s used assertions that expired (by wall-clock time); None if there were none."""
    now = wall_now()
    purged = db.run(_PURGE_EXPIRED, {"tenant_id": tenant_id, "now": now})
    if not purged:
        return None
    return {"kind": PURGE_WORK, "due_at": now.isoformat(), "state": "done", "result": {"purged": purged}}


register_due_work(PURGE_WORK, earliest_expired, purge_expired)
