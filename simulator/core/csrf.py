"""CSRF tokens for the forms of the AMS and LMS pages (HTTP glue: it reads ``flask.session``).

The synchronizer token pattern (OWASP CSRF Prevention Cheat Sheet): each browser session holds one
random token per tenant, every form of that tenant's pages carries it in a hidden ``csrf_token`` field,
and a POST whose field does not match it is refused. The session is Flask's signed cookie, so another
site can neither read the token nor forge the cookie. ``scope`` names the token's entry in the session
(one per family of pages: the LMS's learning pages, the AMS store), so pages of one family never accept
the forms of another.

Example::

    html = render_template("page.html", csrf_token=csrf_token("ams_store_csrf", tenant_id))
    if not csrf_valid("ams_store_csrf", tenant_id, request.form.get("csrf_token")):
        ...  # refuse the POST, change nothing
"""

from __future__ import annotations

import hmac
import secrets

from flask import session

FIELD = "csrf_token"
"""The name of the hidden form field that carries the token."""
REFUSED_MESSAGE = "The form expired or did not come from this page; please try again."


def csrf_token(scope: str, tenant_id: str) -> str:
    """This browser session's token for the tenant's forms in ``scope`` (made on first use)."""
    tokens = session.get(scope)
    tokens = tokens if isinstance(tokens, dict) else {}
    if tenant_id not in tokens:
        tokens[tenant_id] = secrets.token_urlsafe(32)
        session[scope] = tokens
    return tokens[tenant_id]


def csrf_valid(scope: str, tenant_id: str, sent: str | None) -> bool:
    """Does ``sent`` (the form's field) match the session's token? Compared in constant time."""
    tokens = session.get(scope)
    expected = tokens.get(tenant_id) if isinstance(tokens, dict) else None
    return bool(sent) and isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())
