"""The AMS login page and logout (``/t/{tenant}/login``, ``/t/{tenant}/logout``).

A successful sign-in whose ``next`` is a pending sign-on (SAML SSO or IdP-initiated SSO, OIDC authorize,
token hand-off) is continued in place: the POST answers with exactly what ``GET next`` would answer for
the member just signed in — the auto-posting SAML response, the redirect to the client with a code, a
refusal page — with the new login cookie on it, instead of a 303 back to ``next``. The view of ``next``
runs under a nested request context (same app context, so ``g.fresh_login`` reaches
:func:`simulator.ams.idp.browser.current_login`): its blueprint's tenant resolution and error pages
apply, the query string reaches it byte for byte (a signed HTTP-Redirect AuthnRequest is verified over
those octets), and the journal, a WSGI middleware outside Flask, records the one POST. Any other
``next`` keeps the 303.
"""

from __future__ import annotations

import io
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Response, current_app, g, redirect, request
from werkzeug.exceptions import HTTPException

from simulator.ams.idp import browser, web_session
from simulator.ams.idp.login import LoginFailed, authenticate
from simulator.core.web import database

login_pages = browser.idp_blueprint("ams_login", __name__)

PENDING_SIGN_ON_ENDPOINTS = frozenset(
    {
        "ams_saml.single_sign_on",
        "ams_saml.idp_initiated",
        "ams_oidc.authorize",
        "ams_token.authorize",
        "ams_token.launch",
    }
)
"""The views whose ``GET`` the login form's POST answers in place: each completes a pending sign-on."""

_NOT_FORWARDED = frozenset({"CONTENT_TYPE", "RAW_URI", "REQUEST_URI"})


@login_pages.get("/login")
def login_form(tenant: str) -> Response:
    """The branded sign-in form; ``next`` is where the browser goes afterwards (inside this tenant)."""
    return browser.login_page(browser.safe_next(request.args.get("next")), request.args.get("requester"))


@login_pages.post("/login")
def login_submit(tenant: str) -> Response:
    """Check the password; on success remember the sign-in and continue the pending request."""
    email = request.form.get("email", "")[:254]
    next_url = browser.safe_next(request.form.get("next"))
    try:
        member_id = authenticate(database(), browser.tenant_id(), email, request.form.get("password", ""))
    except LoginFailed as failure:
        return browser.login_page(next_url, email=email, error=failure.message, status=failure.http_status)
    tenant_id, lifetime = browser.tenant_id(), browser.login_lifetime_seconds()
    pending = _pending_sign_on(next_url)
    if pending is None:
        response = redirect(next_url, 303)
        web_session.write_login(response, tenant_id, member_id, lifetime)
        return response
    cookie = Response()  # holds the Set-Cookie until the continued answer exists, with the same auth_time
    auth_time = web_session.write_login(cookie, tenant_id, member_id, lifetime)
    g.fresh_login = {"member_id": member_id, "auth_time": auth_time}
    response = _get_in_place(*pending)
    for set_cookie in cookie.headers.getlist("Set-Cookie"):
        response.headers.add("Set-Cookie", set_cookie)
    return response


def _pending_sign_on(next_url: str) -> tuple[str, str] | None:
    """``(PATH_INFO, QUERY_STRING)`` of ``next_url`` when it names a pending sign-on, else ``None``."""
    parts = urlsplit(next_url)
    path_info = unquote_to_bytes(parts.path).decode("latin-1")  # as a WSGI server decodes it (PEP 3333)
    try:
        endpoint, _ = current_app.url_map.bind_to_environ(request.environ).match(path_info, method="GET")
    except HTTPException:
        return None
    return (path_info, parts.query) if endpoint in PENDING_SIGN_ON_ENDPOINTS else None


def _get_in_place(path_info: str, query_string: str) -> Response:
    """What ``GET path_info?query_string`` answers, dispatched inside this request (no new round trip)."""
    environ = {key: value for key, value in request.environ.items() if key not in _NOT_FORWARDED}
    environ.update(
        REQUEST_METHOD="GET",
        PATH_INFO=path_info,
        QUERY_STRING=query_string,
        CONTENT_LENGTH="0",
        **{"wsgi.input": io.BytesIO(b"")},
    )
    with current_app.request_context(environ):
        return current_app.full_dispatch_request()


@login_pages.get("/login/done")
def signed_in(tenant: str) -> Response:
    """Where a sign-in without a pending SSO request lands."""
    login = browser.current_login()
    if login is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/login/done")
    return browser.message_page(
        "You are signed in",
        f"You are signed in to {browser.settings().branding.association_name} "
        f"as member {login['member_id']}.",
        200,
        link=f"/t/{browser.tenant_id()}/logout",
        link_text="Sign out",
    )


@login_pages.route("/logout", methods=["GET", "POST"])
def logout(tenant: str) -> Response:
    """Forget the sign-in at this tenant (other tenants' sessions are untouched)."""
    response = browser.message_page(
        "You are signed out",
        "You have signed out.",
        200,
        link=f"/t/{browser.tenant_id()}/login",
        link_text="Sign in again",
    )
    web_session.clear_login(response, browser.tenant_id())
    return response
