"""Who is signed in to the LMS, per tenant, in Flask's signed session cookie.

The cookie holds one entry per tenant (``lms_sso[tenant]``), so a sign-in at tenant A never
authenticates at tenant B; the pending OIDC login (state, nonce, PKCE verifier) sits beside it.
Only :mod:`.views` calls these helpers (they touch ``flask.session``).
"""

from __future__ import annotations

from typing import Any

from flask import session

SIGNED_IN_KEY = "lms_sso"
PENDING_OIDC_KEY = "lms_oidc_pending"


def _bucket(key: str) -> dict[str, Any]:
    value = session.get(key)
    return value if isinstance(value, dict) else {}


def signed_in(tenant_id: str) -> dict[str, Any] | None:
    """The tenant's sign-in record in this browser, or None."""
    entry = _bucket(SIGNED_IN_KEY).get(tenant_id)
    return entry if isinstance(entry, dict) and entry.get("tenant") == tenant_id else None


def sign_in(tenant_id: str, record: dict[str, Any]) -> None:
    bucket = _bucket(SIGNED_IN_KEY)
    bucket[tenant_id] = {**record, "tenant": tenant_id}
    session[SIGNED_IN_KEY] = bucket
    session.permanent = False


def sign_out(tenant_id: str) -> dict[str, Any] | None:
    """Forget the tenant's sign-in; returns what it was."""
    bucket = _bucket(SIGNED_IN_KEY)
    record = bucket.pop(tenant_id, None)
    session[SIGNED_IN_KEY] = bucket
    return record


def keep_pending_oidc(tenant_id: str, pending: dict[str, str]) -> None:
    bucket = _bucket(PENDING_OIDC_KEY)
    bucket[tenant_id] = pending
    session[PENDING_OIDC_KEY] = bucket


def take_pending_oidc(tenant_id: str) -> dict[str, str] | None:
    """The pending OIDC login, removed from the session (a callback is usable once)."""
    bucket = _bucket(PENDING_OIDC_KEY)
    pending = bucket.pop(tenant_id, None)
    session[PENDING_OIDC_KEY] = bucket
    return pending
