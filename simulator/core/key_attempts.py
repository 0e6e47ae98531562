"""Failed API-key attempts: counted per client in the database, so every process locks out a guesser.

A **client** is the request's remote address (the sandbox trusts no ``X-Forwarded-For``: behind a reverse
proxy every client shares the proxy's address). Each refused key — wrong, unknown, revoked or rotated
away — is one ``failed_key_attempts`` row that counts for ``key_attempt_window_seconds``. A client with
``key_attempt_limit`` rows still counting is locked out: every request of it that carries a key is
refused with ``429 too_many_failed_keys`` and ``Retry-After``, its key not even checked — the right key
too, as GitHub's API does: a lockout that let the right key through would still tell a guesser when it
had guessed right. A request without a key is not an attempt. A lockout ends when the oldest of its
counting rows stops counting (a sliding window), so a client that keeps guessing gets at most
``limit`` guesses per window.

Time is the wall clock, never a tenant's business clock: a clock advance must neither lift nor extend a
lockout. Counting and recording are two statements, so clients racing in parallel may pass the limit by
the requests they have in flight, no more. Rows that stopped counting are removed as due work
(``key_attempts.purge``). Keys themselves are never stored, logged or journaled: a refusal names the key
by :func:`key_fingerprint`.

Example::

    guard = KeyGuard(db, config)
    guard.refuse_if_locked("203.0.113.9", key)       # raises TooManyFailedKeys (429)
    raise guard.failed("203.0.113.9", key, "/api/tenants")  # counts it; returns the 401 to raise
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import re
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select

from simulator.config import SandboxConfig
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import SandboxError, Unauthorized
from simulator.core.jobs import register_due_work
from simulator.core.models import FailedKeyAttempt
from simulator.core.prepared import Prepared

log = logging.getLogger(__name__)

PURGE_WORK = "key_attempts.purge"
CLIENT_LENGTH = 64
"""Characters of the remote address kept (as the journal keeps them)."""
_SANDBOX_KEY_PREFIX = re.compile(r"^sbx_[a-z0-9-]{1,63}_")
"""The non-secret start of a key the sandbox issued: ``sbx_{tenant}_``."""

_attempts = FailedKeyAttempt.__table__.c
_RECORD = Prepared(insert(FailedKeyAttempt))
_LOCKED_UNTIL = Prepared(
    select(_attempts.expires_at)
    .where(_attempts.client == bindparam("client"), _attempts.expires_at > bindparam("now"))
    .order_by(_attempts.expires_at.desc())
    .offset(bindparam("offset"))
    .limit(1)
)
"""The ``limit``-th newest counting row: none while the client is under the limit, else when the
lockout ends (one indexed lookup, on every request that carries a key)."""
_EARLIEST_EXPIRED = Prepared(
    select(func.min(_attempts.expires_at)).where(_attempts.expires_at <= bindparam("now"))
)
_PURGE_EXPIRED = Prepared(delete(FailedKeyAttempt).where(FailedKeyAttempt.expires_at <= bindparam("now")))


class TooManyFailedKeys(SandboxError):
    """The client sent too many wrong keys lately: 429 with ``Retry-After`` (RFC 6585 §4)."""

    code = "too_many_failed_keys"
    http_status = 429


def key_fingerprint(key: str, secret: bytes) -> str:
    """Names a key without showing it: ``sbx_acme_... (41 characters, #3f9a12c05b7e)``.

    Only the ``sbx_{tenant}_`` start of a key the sandbox issued is kept, then the length and an HMAC
    keyed by the sandbox's own secret: the same key always has the same fingerprint, and a fingerprint
    cannot be used to test guesses of a key offline.
    """
    prefix = _SANDBOX_KEY_PREFIX.match(key)
    digest = hmac.new(secret, b"api-key-fingerprint:" + key.encode(), hashlib.sha256).hexdigest()[:12]
    shown = f"{prefix.group(0)}... " if prefix else ""
    return f"{shown}({len(key)} characters, #{digest})"


class KeyGuard:
    """Counts one app's refused keys per client and locks out a client past the limit (see above)."""

    def __init__(self, db: Database, config: SandboxConfig) -> None:
        self.db = db
        self.limit = config.key_attempt_limit
        self.window = dt.timedelta(seconds=config.key_attempt_window_seconds)
        self._secret = config.flask_secret_key().encode()

    def fingerprint(self, key: str) -> str:
        return key_fingerprint(key, self._secret)

    def locked_until(self, client: str, now: dt.datetime | None = None) -> dt.datetime | None:
        """When ``client``'s lockout ends, or ``None`` when it is not locked out."""
        if self.limit == 0:
            return None
        row = self.db.first(
            _LOCKED_UNTIL,
            {"client": client[:CLIENT_LENGTH], "now": now or wall_now(), "offset": self.limit - 1},
        )
        return row[0] if row is not None else None

    def refuse_if_locked(self, client: str, key: str) -> None:
        """Raise :class:`TooManyFailedKeys` when ``client`` is locked out (``key`` is not checked)."""
        now = wall_now()
        until = self.locked_until(client, now)
        if until is None:
            return
        seconds = max(1, math.ceil((until - now).total_seconds()))
        raise TooManyFailedKeys(
            f"Too many wrong API keys came from your address: try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
            errors=[{"field": "Authorization", "message": f"key {self.fingerprint(key)} was not checked"}],
        )

    def failed(self, client: str, key: str, path: str) -> Unauthorized:
        """Count the refused ``key`` against ``client`` and log it; returns the 401 to raise."""
        fingerprint = self.fingerprint(key)
        log.warning("refused API key %s from %s on %s", fingerprint, client or "an unknown address", path)
        if self.limit:
            self.db.run(_RECORD, {"client": client[:CLIENT_LENGTH], "expires_at": wall_now() + self.window})
        error = Unauthorized("The API key is not valid.")
        error.errors = [{"field": "Authorization", "message": f"key {fingerprint} opens nothing here"}]
        return error


def earliest_expired(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    """When the earliest failed attempt that no longer counts stopped counting (any client's).

    Attempts are no tenant's: whichever tenant's due work runs first purges them. ``until`` is business
    time and does not apply (see the module docstring).
    """
    row = db.first(_EARLIEST_EXPIRED, {"now": wall_now()})
    return row[0] if row is not None else None


def purge_expired(db: Database, tenant_id: str, until: dt.datetime, simulated: bool) -> dict[str, Any] | None:
    """Forget failed attempts that stopped counting; a summary for the worker, never for a clock advance
    (another client's attempts are not the advanced tenant's business)."""
    now = wall_now()
    purged = db.run(_PURGE_EXPIRED, {"now": now})
    if not purged or simulated:
        return None
    return {"kind": PURGE_WORK, "due_at": now.isoformat(), "state": "done", "result": {"purged": purged}}


register_due_work(PURGE_WORK, earliest_expired, purge_expired)
