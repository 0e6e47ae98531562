"""The AMS login session: a signed cookie per tenant (HTTP glue, used by the IdP views only).

The cookie is named after the tenant and scoped to its path (``/t/{tenant}/``), and its signature is
salted with the tenant id, so a session of one tenant is never valid in another. It holds the member id
and the sign-in time (OIDC Core §2 ``auth_time``), nothing secret.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Request, Response, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_PREFIX = "ams_login_"


def _serializer(tenant_id: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"ams-login:{tenant_id}")


def cookie_name(tenant_id: str) -> str:
    return COOKIE_PREFIX + tenant_id.replace("-", "_")


def read_login(request: Request, tenant_id: str, max_age_seconds: int) -> dict[str, Any] | None:
    """``{"member_id", "auth_time"}`` of the browser's sign-in at this tenant, if valid and fresh."""
    raw = request.cookies.get(cookie_name(tenant_id))
    if not raw:
        return None
    try:
        data = _serializer(tenant_id).loads(raw, max_age=max_age_seconds)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and "member_id" in data else None


def write_login(response: Response, tenant_id: str, member_id: str, max_age_seconds: int) -> int:
    """Remember the sign-in; returns its ``auth_time`` (seconds since the epoch)."""
    auth_time = int(time.time())
    value = _serializer(tenant_id).dumps({"member_id": member_id, "auth_time": auth_time})
    response.set_cookie(
        cookie_name(tenant_id),
        value,
        max_age=max_age_seconds,
        path=f"/t/{tenant_id}/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
    return auth_time


def clear_login(response: Response, tenant_id: str) -> None:
    response.delete_cookie(cookie_name(tenant_id), path=f"/t/{tenant_id}/")
