"""HTTP glue shared by the IdP's browser-facing views: tenant resolution, pages, the login session.

Browser flows never answer with problem+json: every :class:`SandboxError` raised under these blueprints
becomes a plain, branded HTML page with the error's status (400, 403, 404 …) — never a redirect. (A
tenant that does not exist has no branding: :func:`simulator.core.web.resolve_tenant` answers it.)

A sign-on endpoint (SAML SSO, OIDC authorize, token hand-off) that finds nobody signed in answers with
the login form itself (:func:`login_page`), its ``next`` the endpoint's own URL; the form's POST then
answers with the protocol response in place (see :mod:`simulator.ams.idp.views`), which
:func:`current_login` sees through ``g.fresh_login``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, make_response, redirect, render_template, request

from simulator.ams.idp import web_session
from simulator.core.errors import SandboxError
from simulator.core.local_redirects import tenant_path
from simulator.core.settings import Branding, TenantSettings
from simulator.core.tenancy import tenant_settings
from simulator.core.web import app_state, resolve_tenant


def idp_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/t/<tenant>`` that resolves the tenant and renders errors as pages."""
    blueprint = Blueprint(name, import_name, url_prefix="/t/<tenant>")

    @blueprint.before_request
    def _resolve_tenant() -> None:
        g.tenant = resolve_tenant((request.view_args or {}).get("tenant", ""))
        g.tenant_settings = tenant_settings(g.tenant)

    @blueprint.errorhandler(SandboxError)
    def _error_page(error: SandboxError) -> Response:
        return message_page("We could not sign you in", error.message, error.http_status)

    return blueprint


def settings() -> TenantSettings:
    return g.tenant_settings


def tenant_id() -> str:
    return g.tenant.id


def ams_url() -> str:
    return app_state().config.ams_url


def _branding() -> Branding:
    return g.tenant_settings.branding if "tenant_settings" in g else Branding()


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, branding=_branding(), **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(
    heading: str, message: str, status: int, link: str | None = None, link_text: str = ""
) -> Response:
    return page("ams_message.html", status, heading=heading, message=message, link=link, link_text=link_text)


def post_form(action: str, fields: dict[str, str]) -> Response:
    """An auto-submitting form (the SAML HTTP-POST binding, SAML bindings 2.0 §3.5)."""
    response = make_response(render_template("ams_post_form.html", action=action, fields=fields))
    response.headers["Cache-Control"] = "no-store"
    return response


def login_lifetime_seconds() -> int:
    return settings().sso.login_session_minutes * 60


def current_login() -> dict[str, Any] | None:
    """The browser's sign-in at this tenant (``member_id``, ``auth_time``), if any.

    A sign-in made earlier in this same request (``g.fresh_login``, set by the login form's POST while it
    continues the pending sign-on) counts before the cookie, which the browser does not send until later.
    """
    fresh = g.get("fresh_login")
    if fresh is not None:
        return fresh
    return web_session.read_login(request, tenant_id(), login_lifetime_seconds())


def login_page(
    next_url: str, requester: str | None = None, email: str = "", error: str | None = None, status: int = 200
) -> Response:
    """The branded sign-in form; its POST goes to ``/t/{t}/login`` and continues to ``next_url``."""
    return page(
        "ams_login.html",
        status,
        tenant_id=tenant_id(),
        next_url=next_url,
        requester=(requester or "")[:200],
        email=email,
        error=error,
    )


def redirect_to_login(next_url: str, requester: str | None = None) -> Response:
    """Send the browser to the login page; after sign-in it comes back to ``next_url`` (same tenant)."""
    target = f"/t/{tenant_id()}/login?next={quote(next_url, safe='')}"
    if requester:
        target += f"&requester={quote(requester, safe='')}"
    return redirect(target, 302)


def safe_next(value: str | None) -> str:
    """``value``'s normalised path when it is inside this tenant, else the tenant's home (no open redirect).

    The check is :func:`simulator.core.local_redirects.tenant_path`: encoded dots or slashes, backslashes,
    control characters, hosts and schemes are refused; the query string is kept byte for byte.
    """
    return tenant_path(tenant_id(), value) or f"/t/{tenant_id()}/login/done"
