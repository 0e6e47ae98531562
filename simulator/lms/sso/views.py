"""LMS single sign-on over HTTP: ``/t/{tenant}/login``, ``/saml/acs``, ``/saml/metadata``,
``/oidc/callback``, ``/sso/token/landing``, ``/logout`` and the ``/me`` probe.

Views only translate HTTP: they read the form or query, call the SAML/OIDC services and
:mod:`.provisioning`, keep the sign-in in the per-tenant session (:mod:`.session`) and redirect. Browser
pages answer errors as HTML pages with the right status; ``/me`` answers problem+json.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, redirect, render_template, request
from flask_openapi3 import Tag
from pydantic import BaseModel, Field

from simulator.core.clock import wall_now
from simulator.core.errors import SandboxError
from simulator.core.request_limits import RequestRefused
from simulator.core.tenancy import tenant_settings
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    app_state,
    current_tenant,
    database,
    tenant_blueprint,
)
from simulator.lms.sso import provisioning
from simulator.lms.sso import session as browser
from simulator.lms.sso import token as token_handoff
from simulator.lms.sso.oidc import rp
from simulator.lms.sso.redirects import safe_return_path
from simulator.lms.sso.saml import sp
from simulator.lms.sso.saml.validation import validate_response

log = logging.getLogger(__name__)

sso_tag = Tag(name="sso", description="Sign-in through the association's identity provider")
sso_pages = tenant_blueprint("lms_sso", __name__, [sso_tag])

SAML_METADATA_TYPE = "application/samlmetadata+xml"
METADATA_RESPONSE = {
    "description": "The SP's SAML 2.0 metadata (an EntityDescriptor).",
    "content": {SAML_METADATA_TYPE: {"schema": {"type": "string"}}},
}
REFUSED_PAGE = {
    "description": "Sign-in refused (4xx) or the identity provider unavailable (501, 502): an HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
SIGN_IN_ANSWERS: dict[Any, Any] = {302: None, "4XX": REFUSED_PAGE, 502: REFUSED_PAGE}
TOKEN_SIGN_IN_ANSWERS: dict[Any, Any] = {**SIGN_IN_ANSWERS, 501: REFUSED_PAGE}  # 501: no credential
LOGIN_ANSWERS: dict[Any, Any] = {302: None, 501: REFUSED_PAGE, 502: REFUSED_PAGE}
"""Starting a sign-in refuses nothing: it redirects, or the identity provider is unavailable."""
SIGNED_OUT_PAGE = {
    "description": "Signed out here (no single logout at the IdP): an HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


class LoginQuery(RequestParameters):
    return_to: str | None = Field(None, description="A path of this tenant to land on after signing in.")


class TokenLandingQuery(RequestParameters):
    token: str | None = Field(None, description="The one-time token the AMS handed over.")
    target: str | None = Field(None, description="A path of this tenant to land on (if the token has none).")


class Me(BaseModel):
    member_id: str
    email: str | None
    given_name: str | None
    family_name: str | None
    member_type: str | None
    member_status: str | None
    access: str
    protocol: str
    signed_in_at: str


class SsoNotice(Exception):
    """A message page for the browser (no problem+json on pages a person sees)."""

    def __init__(self, title: str, error: SandboxError) -> None:
        super().__init__(error.message)
        self.title = title
        self.error = error


def _page(
    title: str, message: str, status: int, code: str | None = None, link: str | None = None
) -> Response:
    branding = tenant_settings(current_tenant()).branding
    html = render_template(
        "sso_message.html",
        title=title,
        message=message,
        code=code,
        link=link,
        link_text="Try again" if status >= 400 else "Continue",
        association=branding.association_name,
        primary_colour=branding.primary_colour,
        accent_colour=branding.accent_colour,
    )
    return Response(html, status=status, mimetype="text/html")


@sso_pages.errorhandler(SsoNotice)
def _notice(notice: SsoNotice) -> Response:
    error = notice.error
    log.info("sign-in refused at %s: %s (%s)", request.path, error.message, error.code)
    retry = f"/t/{current_tenant().id}/login" if error.code != "access_denied" else None
    return _page(notice.title, error.message, error.http_status, error.code, retry)


@sso_pages.errorhandler(RequestRefused)
def _refused(error: RequestRefused) -> Response:
    """A body too large, or a NUL character in a field, at the ACS or the logout form: a page too."""
    log.info("request refused at %s: %s (%s)", request.path, error.message, error.code)
    return _page("Request refused", error.message, error.http_status, error.code)


def _complete_sign_in(tenant_id: str, learner: provisioning.LearnerView, protocol: str, **extra: Any) -> None:
    browser.sign_in(
        tenant_id,
        {
            "member_id": learner.member_id,
            "protocol": protocol,
            "signed_in_at": wall_now().isoformat(),
            **extra,
        },
    )


def _provision(
    tenant_id: str, attributes: dict[str, Any], fallback_member_id: str
) -> provisioning.LearnerView:
    settings = tenant_settings(current_tenant())
    try:
        return provisioning.sign_on(
            database(),
            tenant_id,
            attributes,
            settings.sso,
            settings.access,
            fallback_member_id,
            settings.purchase_sync,
        )
    except SandboxError as error:
        browser.sign_out(tenant_id)
        title = "Access denied" if error.code == "access_denied" else "Sign-in failed"
        raise SsoNotice(title, error) from error


@sso_pages.get("/login", responses=LOGIN_ANSWERS)
def login(path: TenantPath, query: LoginQuery) -> Response:
    """Start single sign-on with the tenant's protocol (`sso.protocol`): SAML, OpenID Connect or token."""
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    config = app_state().config
    return_to = safe_return_path(tenant_id, query.return_to, config.lms_url)
    try:
        if settings.sso.protocol == "saml":
            start = sp.start_login(database(), config, tenant_id, settings.sso, return_to)
            return redirect(start.redirect_url, code=302)
        if settings.sso.protocol == "oidc":
            url, pending = rp.start_login(database(), config, tenant_id, settings.sso, return_to)
            browser.keep_pending_oidc(tenant_id, pending.to_session())
            return redirect(url, code=302)
        return redirect(token_handoff.authorize_url(config, tenant_id, settings.sso, return_to), code=302)
    except SandboxError as error:
        raise SsoNotice("Sign-in is unavailable", error) from error


@sso_pages.get("/sso/token/landing", responses=TOKEN_SIGN_IN_ANSWERS)
def token_landing(path: TenantPath, query: TokenLandingQuery) -> Response:
    """Token hand-off landing: redeem the token over the AMS back channel, provision, sign in."""
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    config = app_state().config
    try:
        if settings.sso.protocol != "token":
            raise SandboxError(
                "This LMS does not accept token hand-off: the tenant's sso.protocol is not 'token'.",
                code="token_handoff_disabled",
                http_status=403,
            )
        result = token_handoff.redeem(config, tenant_id, settings.sso, query.token)
    except SandboxError as error:
        raise SsoNotice("Sign-in failed", error) from error
    learner = _provision(tenant_id, result.attributes, result.member_id)
    _complete_sign_in(tenant_id, learner, "token")
    target = result.target or query.target
    return redirect(safe_return_path(tenant_id, target, config.lms_url), code=302)


@sso_pages.get("/saml/metadata", responses={200: METADATA_RESPONSE})
def saml_metadata(path: TenantPath) -> Response:
    """The SP's SAML metadata: entityID (this URL), ACS (HTTP-POST), signing and encryption certificate."""
    xml = sp.service_provider_metadata(database(), app_state().config, current_tenant().id)
    return Response(xml, mimetype=SAML_METADATA_TYPE)


@sso_pages.post("/saml/acs", responses=SIGN_IN_ANSWERS)
def saml_acs(path: TenantPath) -> Response:
    """Assertion Consumer Service (HTTP-POST binding): validate the response, provision, sign in."""
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    config = app_state().config
    try:
        assertion = validate_response(
            database(), config, tenant_id, settings.sso, request.form.get("SAMLResponse", "")
        )
    except SandboxError as error:
        raise SsoNotice("Sign-in failed", error) from error
    learner = _provision(tenant_id, assertion.attributes, assertion.name_id)
    _complete_sign_in(
        tenant_id, learner, "saml", name_id=assertion.name_id, session_index=assertion.session_index
    )
    target = assertion.return_to or request.form.get("RelayState")
    return redirect(safe_return_path(tenant_id, target, config.lms_url), code=302)


@sso_pages.get("/oidc/callback", responses=SIGN_IN_ANSWERS)
def oidc_callback(path: TenantPath) -> Response:
    """The redirection endpoint of the code flow: check state, redeem the code, validate, sign in."""
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    config = app_state().config
    pending = rp.PendingLogin.from_session(browser.take_pending_oidc(tenant_id))
    try:
        result = rp.finish_login(database(), config, tenant_id, settings.sso, pending, request.args)
    except SandboxError as error:
        raise SsoNotice("Sign-in failed", error) from error
    learner = _provision(tenant_id, result.claims, result.claims["sub"])
    _complete_sign_in(tenant_id, learner, "oidc", id_token=result.id_token)
    return redirect(safe_return_path(tenant_id, result.return_to, config.lms_url), code=302)


def _logout() -> Response:
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    config = app_state().config
    record = browser.sign_out(tenant_id)
    back = f"{config.lms_url}/t/{tenant_id}/logout"
    target = None
    try:
        if record and record.get("protocol") == "saml":
            target = sp.logout_url(
                database(),
                config,
                tenant_id,
                settings.sso,
                record.get("name_id"),
                record.get("session_index"),
                back,
            )
        elif record and record.get("protocol") == "oidc":
            target = rp.end_session_url(config, tenant_id, settings.sso, record.get("id_token"), back)
    except SandboxError:
        log.warning("single logout at the IdP of tenant %s is unavailable; signed out locally", tenant_id)
    if target:
        return redirect(target, code=302)
    return _page(
        "Signed out", "You are signed out of the learning portal.", 200, link=f"/t/{tenant_id}/login"
    )


@sso_pages.get("/logout", responses={200: SIGNED_OUT_PAGE, 302: None})
def logout(path: TenantPath) -> Response:
    """Sign out here, then at the IdP when it offers single logout (SAML SLO or OIDC end_session)."""
    return _logout()


@sso_pages.post("/logout", responses={200: SIGNED_OUT_PAGE, 302: None})
def logout_post(path: TenantPath) -> Response:
    """Sign out (POST form, or an IdP's HTTP-POST logout message coming back)."""
    return _logout()


@sso_pages.get("/me", responses={200: Me, 401: Problem})
def me(path: TenantPath) -> dict[str, Any]:
    """The signed-in learner (the probe scenarios and conformance suites use); 401 when nobody is."""
    tenant_id = current_tenant().id
    record = browser.signed_in(tenant_id)
    learner = provisioning.find_learner(database(), tenant_id, record["member_id"]) if record else None
    if record is None or learner is None or learner.access == "denied":
        raise SandboxError(
            "Nobody is signed in to this tenant's LMS in this browser.", code="not_signed_in", http_status=401
        )
    return {
        "member_id": learner.member_id,
        "email": learner.email,
        "given_name": learner.given_name,
        "family_name": learner.family_name,
        "member_type": learner.member_type,
        "member_status": learner.member_status,
        "access": learner.access,
        "protocol": record.get("protocol"),
        "signed_in_at": record.get("signed_in_at"),
    }
