"""Token hand-off endpoints of the AMS (views only translate HTTP; the protocol is in :mod:`.handoff`).

Browser legs (HTML pages on refusal, never a redirect to an unregistered place):

- ``GET /t/{t}/sso/token/launch?service=…&target=…`` — AMS-initiated: a signed-in member goes to the
  service's landing URL with ``token=`` (and ``target=``, the path to open there). Nobody signed in:
  the login form, whose POST answers with that redirect directly.
- ``GET /t/{t}/sso/token/authorize?service=…&return_url=…&target=…`` — service-initiated: after sign-in
  the browser goes back to ``return_url`` (one of the service's allow-listed URLs, matched exactly) with
  ``token=`` and ``target=`` echoed.

Back channel (problem+json on refusal), authenticated with the service credential (HTTP Basic, or
``client_id``/``client_secret`` in a form or JSON body):

- ``POST /t/{t}/sso/token/validate`` — redeem a token: the member's profile and access decision;
- ``GET /t/{t}/sso/token/members/{member_id}`` — the same profile again (profile refresh).

Redirects carry no body, so a token never lands in the journal through an HTML ``<a href>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, request
from flask_openapi3 import Tag
from pydantic import BaseModel, Field

from simulator.ams.idp import browser, web_session
from simulator.ams.idp.attributes import access_decision
from simulator.ams.idp.login import signed_in_member
from simulator.ams.idp.token import handoff, registry
from simulator.core.errors import BadRequest
from simulator.core.tenancy import tenant_settings
from simulator.core.web import Problem, TenantPath, current_tenant, database, tenant_blueprint

token_pages = browser.idp_blueprint("ams_token", __name__)
token_tag = Tag(name="token hand-off", description="Back channel of the legacy token hand-off SSO")
token_api = tenant_blueprint("ams_token_api", __name__, [token_tag], prefix="/sso/token")


class AccessDecisionOut(BaseModel):
    allowed: bool
    access: str = Field(..., description="full, restricted, read_only or denied.")
    category: str = Field(..., description="active, grace, lapsed, inactive, non_member or prospect.")
    message: str


class ProfileOut(BaseModel):
    member_id: str
    service_id: str
    attributes: dict[str, str] = Field(..., description="Released attributes under their wire names.")
    access_decision: AccessDecisionOut


class ValidationOut(ProfileOut):
    flow: str = Field(..., description="launch (AMS-initiated) or authorize (service-initiated).")
    target: str | None
    issued_at: str


class MemberPath(TenantPath):
    member_id: str = Field(..., max_length=32)


def _redirect(location: str) -> Response:
    """A bodiless 302 that is never cached (the location carries a one-time token)."""
    return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _hand_off(service_key: str, flow: str, destination: str | None, target: str | None) -> Response:
    """The login form if nobody is signed in, else the access policy, then on with a fresh token."""
    tenant_id = browser.tenant_id()
    settings = browser.settings()
    target = handoff.check_target(target)
    with database().read() as session:
        service = registry.find_service(session, tenant_id, service_key)
    if service is None:
        raise BadRequest(f"There is no token service '{service_key[:100]}'.", code="unknown_service")
    if flow == "authorize" and destination not in service.return_urls:
        raise BadRequest(
            "The return URL is not registered for this service; sign-in stops here.",
            code="invalid_return_url",
        )
    query = {"service": service_key, **({"return_url": destination} if destination else {})}
    resume = (
        f"/t/{tenant_id}/sso/token/{flow}?{urlencode({**query, **({'target': target} if target else {})})}"
    )
    login = browser.current_login()
    if login is None:
        return browser.login_page(resume, service.name)
    member = signed_in_member(database(), tenant_id, login["member_id"])
    if member is None:
        response = browser.login_page(resume, service.name)
        web_session.clear_login(response, tenant_id)
        return response
    decision = access_decision(member, settings.access)
    if not decision.allowed:
        return browser.message_page("Access denied", decision.message, 403)
    with database().session() as session:
        token = handoff.issue_token(
            session, tenant_id, service, member.member_id, settings.sso.token_ttl_seconds, flow, target
        )
    params = {"token": token, **({"target": target} if target else {})}
    return _redirect(_with_query(destination or service.landing_url, params))


@token_pages.get("/sso/token/launch")
def launch(tenant: str) -> Response:
    """AMS-initiated hand-off ("Go to learning"): to the service's landing URL with a one-time token."""
    return _hand_off(request.args.get("service", ""), "launch", None, request.args.get("target"))


@token_pages.get("/sso/token/authorize")
def authorize(tenant: str) -> Response:
    """Service-initiated hand-off: back to an allow-listed ``return_url`` with a one-time token."""
    return _hand_off(
        request.args.get("service", ""),
        "authorize",
        request.args.get("return_url", ""),
        request.args.get("target"),
    )


def _body() -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()


def _credential(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(service id, secret) from HTTP Basic (RFC 7617) or the body (client_secret_post style)."""
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        return basic.username, basic.password
    service_id, secret = body.get("client_id"), body.get("client_secret")
    return (service_id if isinstance(service_id, str) else None, secret if isinstance(secret, str) else None)


@token_api.post(
    "/validate",
    responses={200: ValidationOut, 400: Problem, 401: Problem, 403: Problem},
)
def validate(path: TenantPath) -> dict[str, Any]:
    """Redeem a one-time token (once, before it expires, by the service it was issued to)."""
    tenant_id = current_tenant().id
    settings = tenant_settings(current_tenant())
    body = _body()
    service_id, secret = _credential(body)
    token = body.get("token")
    with database().session() as session:
        service = registry.authenticate_service(session, tenant_id, service_id, secret)
        redeemed = handoff.redeem_token(
            session, tenant_id, service, token if isinstance(token, str) else None
        )
        profile = handoff.member_profile(database(), tenant_id, redeemed.member_id, settings, service)
    return {
        **profile,
        "flow": redeemed.flow,
        "target": redeemed.target,
        "issued_at": redeemed.issued_at.isoformat(),
    }


@token_api.get("/members/<member_id>", responses={200: ProfileOut, 401: Problem, 404: Problem})
def member(path: MemberPath) -> dict[str, Any]:
    """The member's current profile and access decision, for a service refreshing what it holds."""
    tenant_id = current_tenant().id
    service_id, secret = _credential({})
    with database().read() as session:
        service = registry.authenticate_service(session, tenant_id, service_id, secret)
        return handoff.member_profile(
            database(), tenant_id, path.member_id, tenant_settings(current_tenant()), service
        )
