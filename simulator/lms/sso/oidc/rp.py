"""The OpenID Connect relying party of one tenant: discovery, client registration, code flow + PKCE.

The provider is found by discovery (OpenID Connect Discovery 1.0): by default the tenant's own AMS at
``{ams_url}/t/{tenant}/.well-known/openid-configuration``, or ``sso.oidc_discovery_url``. The client is
``sso.oidc_client_id``/``oidc_client_secret`` when set, else one registered dynamically (RFC 7591) at the
provider's ``registration_endpoint`` on first use and kept in ``lms_oidc_clients``.

``state``, ``nonce`` and the PKCE (RFC 7636, S256) verifier are made per login and kept by the caller in
the browser's session (:class:`PendingLogin`), so a callback only completes in the browser that started it.

The back-channel calls (token and userinfo) go through the process's keep-alive
:data:`~simulator.lms.sso.backchannel.BACK_CHANNEL`: no proxy environment, no cookies (nothing a
provider sets can travel from one login to the next), no redirects.

Example::

    url, pending = start_login(db, config, "demo", settings.sso, return_to="/t/demo/me")
    ...  # the browser comes back to /t/demo/oidc/callback?code=…&state=…
    result = finish_login(db, config, "demo", settings.sso, pending, request.args)
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from simulator.config import SandboxConfig
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import SandboxError
from simulator.core.http_failures import http_failure
from simulator.core.prepared import Prepared
from simulator.core.settings import SsoSettings
from simulator.core.tls import client_verify
from simulator.lms.sso.backchannel import BACK_CHANNEL, BackChannelError, BackChannelResponse
from simulator.lms.sso.models import OidcClientRegistration
from simulator.lms.sso.oidc.tokens import validate_id_token
from simulator.lms.sso.remote import TIMEOUT, IdentityProviderUnavailable, fetch_json

log = logging.getLogger(__name__)

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
SCOPES = "openid profile email membership"


class OidcLoginFailed(SandboxError):
    code = "oidc_login_failed"
    http_status = 403


@dataclass(frozen=True)
class Provider:
    """The parts of a discovery document the RP uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    registration_endpoint: str | None


@dataclass(frozen=True)
class PendingLogin:
    """What the browser session holds between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str
    issuer: str

    def to_session(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_session(cls, data: Mapping[str, Any] | None) -> PendingLogin | None:
        try:
            return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__}) if data else None
        except KeyError:
            return None


@dataclass(frozen=True)
class OidcSignIn:
    claims: dict[str, Any]
    id_token: str
    return_to: str


def callback_url(config: SandboxConfig, tenant_id: str) -> str:
    return f"{config.lms_url}/t/{tenant_id}/oidc/callback"


def discovery_url(config: SandboxConfig, tenant_id: str, sso: SsoSettings) -> str:
    return sso.oidc_discovery_url or f"{config.ams_url}/t/{tenant_id}{DISCOVERY_SUFFIX}"


def provider(config: SandboxConfig, tenant_id: str, sso: SsoSettings) -> Provider:
    """The tenant's provider; its ``issuer`` MUST equal the discovery URL's prefix (Discovery §4.3)."""
    url = discovery_url(config, tenant_id, sso)
    document = fetch_json(url)
    expected_issuer = url.removesuffix(DISCOVERY_SUFFIX)
    if document.get("issuer") != expected_issuer:
        raise IdentityProviderUnavailable(
            f"The discovery document at {url} names issuer {document.get('issuer')!r}; "
            f"it must be {expected_issuer}."
        )
    try:
        return Provider(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            end_session_endpoint=document.get("end_session_endpoint"),
            registration_endpoint=document.get("registration_endpoint"),
        )
    except KeyError as exc:
        raise IdentityProviderUnavailable(f"The discovery document at {url} lacks {exc}.") from exc


def _register(config: SandboxConfig, tenant_id: str, endpoint: str, redirect_uri: str) -> dict[str, Any]:
    """RFC 7591 §3.1: register the LMS as a confidential web client."""
    body = {
        "client_name": f"Sandbox LMS ({tenant_id})",
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [f"{config.lms_url}/t/{tenant_id}/logout"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": SCOPES,
    }
    try:
        response = httpx.post(endpoint, json=body, timeout=TIMEOUT, verify=client_verify())
    except httpx.HTTPError as exc:
        raise IdentityProviderUnavailable(
            f"Client registration at {endpoint} failed: {http_failure(exc)}."
        ) from exc
    if response.status_code not in (200, 201):
        raise IdentityProviderUnavailable(
            f"Client registration at {endpoint} answered {response.status_code}; expected 201."
        )
    registered = response.json()
    if not isinstance(registered, dict) or not registered.get("client_id"):
        raise IdentityProviderUnavailable(f"Client registration at {endpoint} returned no client_id.")
    return registered


_STORED_CLIENT = Prepared(
    select(OidcClientRegistration.client_id, OidcClientRegistration.client_secret).where(
        OidcClientRegistration.tenant_id == bindparam("tenant_id"),
        OidcClientRegistration.issuer == bindparam("issuer"),
        OidcClientRegistration.redirect_uri == bindparam("redirect_uri"),
    )
)
"""Built once: every login and callback looks the client up."""


def client_credentials(
    db: Database, config: SandboxConfig, tenant_id: str, sso: SsoSettings, op: Provider
) -> tuple[str, str | None]:
    """(client_id, client_secret): from settings, else stored, else registered now (once)."""
    if sso.oidc_client_id:
        return sso.oidc_client_id, sso.oidc_client_secret
    redirect_uri = callback_url(config, tenant_id)
    parameters = {"tenant_id": tenant_id, "issuer": op.issuer, "redirect_uri": redirect_uri}
    stored = db.first(_STORED_CLIENT, parameters)
    if stored is not None:
        return stored.client_id, stored.client_secret
    if not op.registration_endpoint:
        raise IdentityProviderUnavailable(
            f"The provider {op.issuer} offers no registration endpoint: set sso.oidc_client_id and "
            "sso.oidc_client_secret in the tenant settings."
        )
    registered = _register(config, tenant_id, op.registration_endpoint, redirect_uri)
    try:
        with db.session() as session:
            old = session.scalar(
                select(OidcClientRegistration).where(
                    OidcClientRegistration.tenant_id == tenant_id, OidcClientRegistration.issuer == op.issuer
                )
            )
            if old is not None and old.redirect_uri == redirect_uri:
                # another request registered at the same time and stored its client first: use that one
                # (sign-ins already under way hold its client id); ours stays unused at the provider
                return old.client_id, old.client_secret
            if old is not None:  # registered for another LMS URL: replace it
                session.delete(old)
                session.flush()
            session.add(
                OidcClientRegistration(
                    tenant_id=tenant_id,
                    issuer=op.issuer,
                    client_id=str(registered["client_id"]),
                    client_secret=registered.get("client_secret"),
                    redirect_uri=redirect_uri,
                    created_at=wall_now(),
                )
            )
    except IntegrityError:  # another process registered at the same time: use theirs
        stored = db.first(_STORED_CLIENT, parameters)
        if stored is None:
            raise
        return stored.client_id, stored.client_secret
    log.info(
        "registered the LMS of tenant %s as OIDC client %s at %s",
        tenant_id,
        registered["client_id"],
        op.issuer,
    )
    return str(registered["client_id"]), registered.get("client_secret")


def start_login(
    db: Database, config: SandboxConfig, tenant_id: str, sso: SsoSettings, return_to: str
) -> tuple[str, PendingLogin]:
    """The authorization URL (code flow, PKCE S256, state, nonce) and what to keep in the session."""
    op = provider(config, tenant_id, sso)
    client_id, _ = client_credentials(db, config, tenant_id, sso, op)
    pending = PendingLogin(
        state=secrets.token_urlsafe(24),  # 32 characters
        nonce=secrets.token_urlsafe(24),
        code_verifier=secrets.token_urlsafe(48),  # 64 characters of RFC 7636 §4.1's unreserved set
        return_to=return_to,
        issuer=op.issuer,
    )
    url = prepare_grant_uri(
        op.authorization_endpoint,
        client_id=client_id,
        response_type="code",
        redirect_uri=callback_url(config, tenant_id),
        scope=SCOPES,
        state=pending.state,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
        nonce=pending.nonce,
    )
    return url, pending


def finish_login(
    db: Database,
    config: SandboxConfig,
    tenant_id: str,
    sso: SsoSettings,
    pending: PendingLogin | None,
    params: Mapping[str, str],
) -> OidcSignIn:
    """Check state, redeem the code, validate the ID token and fetch userinfo (OIDC Core §3.1.2.7–§5.3)."""
    if pending is None:
        raise OidcLoginFailed("No sign-in is in progress in this browser; start again.", http_status=400)
    if not hmac.compare_digest(params.get("state", ""), pending.state):
        raise OidcLoginFailed("The state does not match the sign-in this browser started.", http_status=400)
    if params.get("error"):
        description = params.get("error_description", "")
        raise OidcLoginFailed(f"The provider refused the sign-in: {params['error']} {description}".strip())
    code = params.get("code")
    if not code:
        raise OidcLoginFailed("The callback carries no authorization code.", http_status=400)
    op = provider(config, tenant_id, sso)
    if op.issuer != pending.issuer:
        raise OidcLoginFailed("The provider changed during the sign-in; start again.", http_status=400)
    client_id, client_secret = client_credentials(db, config, tenant_id, sso, op)
    redirect_uri = callback_url(config, tenant_id)
    token = _redeem_code(
        op.token_endpoint, client_id, client_secret, redirect_uri, code, pending.code_verifier
    )
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcLoginFailed("The token response carries no id_token.")
    access_token = token.get("access_token")
    claims = validate_id_token(
        id_token,
        op.jwks_uri,
        op.issuer,
        client_id,
        pending.nonce,
        access_token if isinstance(access_token, str) else None,
        sso.clock_skew_seconds,
    )
    if op.userinfo_endpoint:
        claims = _with_userinfo(op.userinfo_endpoint, token, claims)
    return OidcSignIn(claims=claims, id_token=id_token, return_to=pending.return_to)


def _backchannel_call(
    method: str, url: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> BackChannelResponse:
    try:
        response = BACK_CHANNEL.request(method, url, form=form, headers=headers)
    except BackChannelError as exc:
        raise IdentityProviderUnavailable(f"The provider's endpoint {url} failed: {exc}.") from exc
    if response.status >= 500:
        raise IdentityProviderUnavailable(f"The provider's endpoint {url} answered {response.status}.")
    return response


def _redeem_code(
    endpoint: str,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code: str,
    code_verifier: str,
) -> dict[str, Any]:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5); client_secret_basic (§2.3.1) when there is a secret."""
    form = {
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
        "code": code,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if client_secret:
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode("latin1")).decode()
        headers["Authorization"] = f"Basic {credentials}"
    else:
        form["client_id"] = client_id
    response = _backchannel_call("POST", endpoint, form=form, headers=headers)
    try:
        token = response.json()
    except ValueError:
        token = None
    if not isinstance(token, dict):
        raise IdentityProviderUnavailable(
            f"The token endpoint answered {response.status} without a JSON object."
        )
    if "error" in token:
        raise OidcLoginFailed(f"The token endpoint refused the code: {token['error']}.")
    return token


def _with_userinfo(endpoint: str, token: Mapping[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    """Merge userinfo into the claims; its ``sub`` MUST equal the ID token's (OIDC Core §5.3.2).

    The access token is sent as a bearer token (RFC 6750 §2.1); OIDC Core §3.1.3.3 says its type MUST be
    Bearer.
    """
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OidcLoginFailed("The token response carries no access_token.")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise OidcLoginFailed(f"The token type {token.get('token_type')!r} is not Bearer.")
    response = _backchannel_call("GET", endpoint, headers={"Authorization": f"Bearer {access_token}"})
    if response.status != 200:
        raise OidcLoginFailed(f"The userinfo endpoint answered {response.status}.")
    try:
        userinfo = response.json()
    except ValueError as exc:
        raise OidcLoginFailed("The userinfo response is not JSON.") from exc
    if not isinstance(userinfo, dict) or userinfo.get("sub") != claims["sub"]:
        raise OidcLoginFailed("The userinfo sub differs from the ID token's sub; refused.")
    return {**claims, **userinfo}


def end_session_url(
    config: SandboxConfig, tenant_id: str, sso: SsoSettings, id_token: str | None, return_to: str
) -> str | None:
    """RP-initiated logout at the provider's ``end_session_endpoint``, when it offers one."""
    op = provider(config, tenant_id, sso)
    if not op.end_session_endpoint:
        return None
    params = {"post_logout_redirect_uri": return_to, "state": secrets.token_urlsafe(12)}
    if id_token:
        params["id_token_hint"] = id_token
    separator = "&" if "?" in op.end_session_endpoint else "?"
    return f"{op.end_session_endpoint}{separator}{urlencode(params)}"
