"""Sign-in and sign-out steps: the actor's browser goes through the LMS and the AMS login form.

``sso_login`` starts where a person would — the LMS login (SP-initiated SAML, the OIDC code flow, or the
token hand-off's ``authorize`` leg), or the AMS (IdP-initiated SAML, the token ``launch``) — and judges
the result by the LMS probe ``/t/{t}/me``: signed in as the actor's member id, or refused (403 page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from simulator.scenario.model import SsoLogin, SsoLogout
from simulator.scenario.steps import Person, RunContext, StepFailed, step

TOKEN_SERVICE_NAME = "Sandbox LMS"  # noqa: S105 - a service name: the LMS's, registered at seeding


def _start_url(ctx: RunContext, protocol: str, via: str) -> str:
    tenant = ctx.tenant
    me = f"/t/{tenant.tenant_id}/me"
    if via == "lms":
        return f"{tenant.lms_base}/login?return_to={quote(me)}"
    if protocol == "saml":
        sp = quote(f"{tenant.lms_base}/saml/metadata", safe="")
        return f"{tenant.ams_base}/saml/idp-initiated?sp={sp}&RelayState={quote(me)}"
    if protocol == "token":
        return f"{tenant.ams_base}/sso/token/launch?service={quote(TOKEN_SERVICE_NAME)}&target={quote(me)}"
    raise StepFailed("OpenID Connect has no sign-in started at the AMS; use via: lms")


def _sign_in(ctx: RunContext, person: Person, protocol: str, params: SsoLogin) -> dict[str, Any]:
    browser = ctx.agent(person)
    landing = browser.journey(_start_url(ctx, protocol, params.via), person.email, person.password)
    me = landing.body if landing.is_json and landing.url.endswith("/me") else None
    if params.outcome == "signed_in":
        if landing.status != 200 or not me:
            raise StepFailed(
                f"{person.label} should be signed in at the LMS, but the journey ended with "
                f"{landing.status} {landing.code or ''} at {landing.url}".rstrip(),
                {"status": landing.status, "code": landing.code},
            )
        if me.get("member_id") != person.member_id:
            raise StepFailed(
                f"the LMS signed {person.label} in as {me.get('member_id')}, expected {person.member_id}"
            )
        return {
            "signed_in": True,
            "protocol": me.get("protocol"),
            "member_status": me.get("member_status"),
            "member_type": me.get("member_type"),
            "access": me.get("access"),
        }
    if me:
        raise StepFailed(
            f"{person.label} should be refused, but the LMS signed them in "
            f"(status {me.get('member_status')}, access {me.get('access')})",
            {"signed_in": True, "access": me.get("access")},
        )
    if landing.status != 403:
        raise StepFailed(
            f"{person.label} should be refused with 403, the journey ended with {landing.status} at "
            f"{landing.url}",
            {"status": landing.status, "code": landing.code},
        )
    return {"signed_in": False, "status": landing.status, "code": landing.code}


@step("sso_login")
def sso_login(ctx: RunContext, params: SsoLogin) -> dict[str, Any]:
    current = ctx.tenant.settings()["sso"]["protocol"]
    observed: dict[str, Any] = {}
    protocol = params.protocol or current
    if protocol != current:
        ctx.tenant.patch_settings({"sso": {"protocol": protocol}})
        observed["switched_protocol"] = f"{current} -> {protocol}"
    result = ctx.per_person(params.actor, lambda person: _sign_in(ctx, person, protocol, params))
    return observed | result


@step("sso_logout")
def sso_logout(ctx: RunContext, params: SsoLogout) -> dict[str, Any]:
    def sign_out(person: Person) -> dict[str, Any]:
        browser = ctx.agent(person)
        browser.journey(f"{ctx.tenant.lms_base}/logout")
        status, _ = browser.get_json(f"{ctx.tenant.lms_base}/me")
        if status != 401:
            raise StepFailed(
                f"{person.label} is still signed in at the LMS after logout (/me answered {status})"
            )
        return {"signed_in": False}

    return ctx.per_person(params.actor, sign_out)
