"""The LMS side of token hand-off SSO: where to send a learner, and redeeming a token over the back channel.

The LMS knows the AMS only over HTTP: it sends the browser to ``{ams_url}/t/{t}/sso/token/authorize`` and
redeems the token it gets back (or one an AMS launch brings) with ``POST {ams_url}/t/{t}/sso/token/validate``
(httpx, short timeout, HTTP Basic with the LMS's service credential from the tenant settings
``sso.token_service_id`` / ``sso.token_service_secret``). No Flask here.

Refusals keep the AMS's error code (``invalid_token``, ``expired_token``, ``used_token``,
``wrong_service``) so the learner's page names what went wrong; a rejected credential or an unreachable
AMS is a 502.

Example::

    url = authorize_url(config, "demo", settings.sso, return_to="/t/demo/courses")
    result = redeem(config, "demo", settings.sso, token)
    result.attributes, result.target
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from simulator.config import SandboxConfig
from simulator.core.errors import SandboxError
from simulator.core.http_failures import http_failure
from simulator.core.settings import SsoSettings
from simulator.core.tls import client_verify

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_TOKEN_CHARS = 200
TOKEN_REFUSALS = {
    "invalid_token": (400, "This sign-in link is not valid. Start the sign-in again."),
    "expired_token": (400, "This sign-in link has expired. Start the sign-in again."),
    "used_token": (403, "This sign-in link has already been used. Start the sign-in again."),
    "wrong_service": (403, "This sign-in link was issued for another service."),
}


class TokenHandoffUnavailable(SandboxError):
    """The hand-off cannot be completed on the LMS side (no credential, or the AMS did not answer)."""

    code = "token_handoff_unavailable"
    http_status = 502


@dataclass(frozen=True)
class RedeemedToken:
    """What the AMS answered for a token: the member's attributes and where the learner was going."""

    member_id: str
    attributes: dict[str, Any]
    target: str | None


def landing_url(config: SandboxConfig, tenant_id: str) -> str:
    """The LMS's landing (and return) URL, as registered at the AMS."""
    return f"{config.lms_url}/t/{tenant_id}/sso/token/landing"


def _ams_base(config: SandboxConfig, tenant_id: str) -> str:
    return f"{config.ams_url}/t/{tenant_id}/sso/token"


def _credential(sso: SsoSettings) -> tuple[str, str]:
    if not sso.token_service_id or not sso.token_service_secret:
        raise TokenHandoffUnavailable(
            "The LMS has no token service credential: reset the tenant (the sandbox registers the LMS at "
            "its AMS) or set sso.token_service_id and sso.token_service_secret.",
            code="token_handoff_not_configured",
            http_status=501,
        )
    return sso.token_service_id, sso.token_service_secret


def authorize_url(config: SandboxConfig, tenant_id: str, sso: SsoSettings, return_to: str) -> str:
    """The AMS address that signs the learner in and comes back to the landing URL with a token."""
    service_id, _ = _credential(sso)
    query = {"service": service_id, "return_url": landing_url(config, tenant_id), "target": return_to}
    return f"{_ams_base(config, tenant_id)}/authorize?{urlencode(query)}"


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("error") or body.get("code")
    return code if isinstance(code, str) else None


def redeem(config: SandboxConfig, tenant_id: str, sso: SsoSettings, token: str | None) -> RedeemedToken:
    """Ask the AMS who ``token`` belongs to (the back channel); refusals are :class:`SandboxError`."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        status, message = TOKEN_REFUSALS["invalid_token"]
        raise SandboxError(message, code="invalid_token", http_status=status)
    service_id, secret = _credential(sso)
    url = f"{_ams_base(config, tenant_id)}/validate"
    try:
        response = httpx.post(
            url,
            data={"token": token},
            auth=(service_id, secret),
            timeout=TIMEOUT,
            follow_redirects=False,
            verify=client_verify(),
        )
    except httpx.HTTPError as exc:
        raise TokenHandoffUnavailable(f"The AMS at {url} did not answer: {http_failure(exc)}.") from exc
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError as exc:
            raise TokenHandoffUnavailable("The AMS answered the token validation with no JSON.") from exc
        attributes = body.get("attributes") if isinstance(body, dict) else None
        if not isinstance(attributes, dict) or not isinstance(body.get("member_id"), str):
            raise TokenHandoffUnavailable("The AMS answered the token validation without a member profile.")
        target = body.get("target")
        return RedeemedToken(body["member_id"], attributes, target if isinstance(target, str) else None)
    code = _problem_code(response)
    if code in TOKEN_REFUSALS:
        status, message = TOKEN_REFUSALS[code]
        raise SandboxError(message, code=code, http_status=status)
    if response.status_code == 401:
        raise TokenHandoffUnavailable(
            "The AMS refused the LMS's token service credential (sso.token_service_id / secret).",
            code="token_service_rejected",
        )
    raise TokenHandoffUnavailable(
        f"The AMS answered {response.status_code} ({code or 'no error code'}) to the token validation."
    )
