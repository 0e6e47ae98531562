"""Signing in to the console: the key is posted once, then a session cookie names who signed in.

The cookie (signed, ``HttpOnly``, ``SameSite=Strict``, named apart from the AMS's and LMS's on the same
host) holds the principal and a SHA-256 digest of the key, never the key. Every request checks the
digest again: a rotated tenant key, a deleted tenant or a changed admin key signs the browser out at
once. Every state-changing form carries the session's CSRF token (:func:`csrf_token`), checked before
any POST view runs.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from simulator.console.ui.blueprint import ui
from simulator.core.key_attempts import TooManyFailedKeys
from simulator.core.models import Tenant
from simulator.core.security import digest_key, keys_equal
from simulator.core.tenancy import Principal, authorize_tenant
from simulator.core.web import app_state, database

SESSION_KEY = "console"
CSRF_FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's CSRF token (made on first use); forms send it back in ``csrf_token``."""
    token = session.get(CSRF_FIELD)
    if token is None:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


@ui.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "principal": current_principal}


@ui.before_request
def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    expected = session.get(CSRF_FIELD)
    if not expected or not keys_equal(sent, expected):
        abort(400, "The form has expired or came from another site: reload the page and try again.")


def principal_for_key(key: str) -> Principal | None:
    """Who holds ``key`` (the admin, a tenant), or ``None``."""
    if keys_equal(key, app_state().admin_key):
        return Principal(is_admin=True)
    with database().read() as db_session:
        tenant_id = db_session.scalar(select(Tenant.id).where(Tenant.api_key_hash == digest_key(key)))
    return None if tenant_id is None else Principal(is_admin=False, tenant_id=tenant_id)


def current_principal() -> Principal | None:
    """The signed-in principal, re-checked against the key store on every request."""
    if "ui_principal" in g:
        return g.ui_principal
    principal = None
    stored = session.get(SESSION_KEY)
    if isinstance(stored, dict) and isinstance(stored.get("key"), str):
        if stored.get("admin") is True:
            if keys_equal(stored["key"], digest_key(app_state().admin_key)):
                principal = Principal(is_admin=True)
        elif isinstance(stored.get("tenant"), str):
            with database().read() as db_session:
                holder = db_session.scalar(
                    select(Tenant.id).where(
                        Tenant.id == stored["tenant"], Tenant.api_key_hash == stored["key"]
                    )
                )
            if holder is not None:
                principal = Principal(is_admin=False, tenant_id=holder)
    g.ui_principal = principal
    return principal


def _safe_next(target: str | None) -> str:
    """Only a path of this console (no scheme, no host, no ``//``) is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ui.home")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("ui.home")


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page needs a signed-in principal; otherwise the browser goes to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_principal() is None:
            return redirect(url_for("ui.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def admin_only() -> None:
    """Pages and actions only the admin key may use answer 404 to anyone else (as the API's 403)."""
    principal = current_principal()
    if principal is None or not principal.is_admin:
        abort(404)


def page_tenant(tenant_id: str) -> Tenant:
    """The tenant of a page, if the signed-in principal may see it; else 404, as if it did not exist."""
    principal = current_principal()
    if principal is None:
        abort(404)
    with database().read() as db_session:
        tenant = authorize_tenant(db_session, principal, tenant_id)
        db_session.expunge(tenant)
    return tenant


@ui.get("/sign-in")
def sign_in() -> Any:
    if current_principal() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("ui/sign_in.html", next=request.args.get("next", ""), error=None)


@ui.post("/sign-in")
def sign_in_post() -> Any:
    key = request.form.get("key", "").strip()
    next_page = request.form.get("next", "")
    guard, client = app_state().key_guard, request.remote_addr or ""
    if key:  # a wrong key counts as on the API: a locked-out address may not sign in either
        try:
            guard.refuse_if_locked(client, key)
        except TooManyFailedKeys as refusal:
            page = render_template("ui/sign_in.html", next=next_page, error=refusal.message)
            return page, 429, refusal.headers
    principal = principal_for_key(key) if key else None
    if principal is None:
        if key:
            guard.failed(client, key, request.path)
        error = "That key is not the admin key or a tenant's key." if key else "Enter a key."
        return render_template("ui/sign_in.html", next=next_page, error=error), 401
    session.clear()
    session[SESSION_KEY] = {
        "admin": principal.is_admin,
        "tenant": principal.tenant_id,
        "key": digest_key(key),
    }
    csrf_token()
    return redirect(_safe_next(request.form.get("next")), code=303)


@ui.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect(url_for("ui.sign_in"), code=303)


@ui.get("/")
def home() -> Any:
    principal = current_principal()
    if principal is None:
        return redirect(url_for("ui.sign_in"))
    if principal.is_admin:
        return redirect(url_for("ui.tenants"))
    return redirect(url_for("ui.dashboard", tenant=principal.tenant_id))
