"""The AMS login page and logout (``/t/{tenant}/login``, ``/t/{tenant}/logout``)."""

from __future__ import annotations

from flask import Response, redirect, request

from simulator.ams.idp import browser, web_session
from simulator.ams.idp.login import LoginFailed, authenticate
from simulator.core.web import database

login_pages = browser.idp_blueprint("ams_login", __name__)


@login_pages.get("/login")
def login_form(tenant: str) -> Response:
    """The branded sign-in form; ``next`` is where the browser goes afterwards (inside this tenant)."""
    return browser.page(
        "ams_login.html",
        tenant_id=browser.tenant_id(),
        next_url=browser.safe_next(request.args.get("next")),
        requester=request.args.get("requester", "")[:200],
        email="",
        error=None,
    )


@login_pages.post("/login")
def login_submit(tenant: str) -> Response:
    """Check the password; on success remember the sign-in and continue the pending request."""
    email = request.form.get("email", "")[:254]
    next_url = browser.safe_next(request.form.get("next"))
    try:
        with database().read() as session:
            member = authenticate(session, browser.tenant_id(), email, request.form.get("password", ""))
            member_id = member.member_id
    except LoginFailed as failure:
        return browser.page(
            "ams_login.html",
            status=failure.http_status,
            tenant_id=browser.tenant_id(),
            next_url=next_url,
            requester="",
            email=email,
            error=failure.message,
        )
    response = redirect(next_url, 303)
    web_session.write_login(response, browser.tenant_id(), member_id, browser.login_lifetime_seconds())
    return response


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
