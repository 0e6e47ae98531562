"""``Idempotency-Key`` for mutating calls (draft-ietf-httpapi-idempotency-key-header).

- The first answer (status and body) to a key is stored and replayed to every retry with the same key.
- The same key with a different request (method, path or body) is refused: 422 ``idempotency_key_reused``.
- Keys expire 24 hours after first use on the tenant's **business clock**; after that the key is new.

The request is remembered only as an HMAC digest (keyed per tenant), so a body holding a card number
never reaches the database. Only successful answers (2xx) and card declines (402) are stored: a request
that failed validation changed nothing and may be retried with the same key.

Example::

    replay = find_replay(session, tenant, "gateway", key, digest)
    if replay is None:
        status, body = do_the_work()
        remember(session, tenant, "gateway", key, digest, status, body)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from simulator.ams.gateway.models import GatewaySecret, IdempotencyRecord
from simulator.core.clock import tenant_now
from simulator.core.db import serialize_in_transaction
from simulator.core.errors import ValidationFailed
from simulator.core.models import Tenant

KEY_LIFETIME = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
STORED_STATUSES = frozenset({200, 201, 402})


def tenant_secret(session: Session, tenant_id: str) -> str:
    """The tenant's gateway key (made on first use; fingerprints and digests are keyed with it)."""
    secret = session.scalar(select(GatewaySecret.secret).where(GatewaySecret.tenant_id == tenant_id))
    if secret is None:
        secret = secrets.token_hex(32)
        session.add(GatewaySecret(tenant_id=tenant_id, secret=secret))
        session.flush()
    return secret


def request_digest(secret: str, method: str, path: str, body: Any) -> str:
    """A keyed digest of the request (canonical JSON of the body)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    message = f"{method.upper()} {path}\n{canonical}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "The Idempotency-Key must be 1–255 printable characters.",
            code="invalid_idempotency_key",
            errors=[{"field": "Idempotency-Key", "message": "1–255 printable characters"}],
        )


def find_replay(
    session: Session, tenant: Tenant, scope: str, key: str, digest: str
) -> tuple[int, Any] | None:
    """The stored answer for ``key`` if it was used for this very request; raises when used for another.

    Concurrent requests with the same new key take turns until the first one's transaction ends, so the
    others find its stored answer instead of colliding with it on the unique key."""
    _check_key(key)
    serialize_in_transaction(session, "idempotency", tenant.id, scope, key)
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant.id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    )
    if record is None:
        return None
    if record.created_at + KEY_LIFETIME <= tenant_now(tenant):
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.pk == record.pk))
        session.flush()
        return None
    if not hmac.compare_digest(record.request_digest, digest):
        raise ValidationFailed(
            "This Idempotency-Key was already used for a different request; use a new key.",
            code="idempotency_key_reused",
            errors=[{"field": "Idempotency-Key", "message": "already used with another body"}],
        )
    return record.status, record.response


def remember(
    session: Session, tenant: Tenant, scope: str, key: str, digest: str, status: int, response: Any
) -> None:
    """Store the first answer to ``key`` (only answers worth replaying, see the module docstring)."""
    if status in STORED_STATUSES:
        session.add(
            IdempotencyRecord(
                tenant_id=tenant.id,
                scope=scope,
                key=key,
                request_digest=digest,
                status=status,
                response=response,
                created_at=tenant_now(tenant),
            )
        )
        session.flush()
