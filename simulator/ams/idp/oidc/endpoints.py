"""Discovery, JWKS, userinfo and RP-initiated logout of the OIDC provider (no Flask here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import bindparam, select

from simulator.ams.idp import keys
from simulator.ams.idp.attributes import CANONICAL_ATTRIBUTES, claim_name
from simulator.ams.idp.models import OidcClient, OidcToken
from simulator.ams.idp.oidc.clients import SUPPORTED_SCOPES
from simulator.ams.idp.oidc.provider import current, user_claims
from simulator.core.clock import wall_now
from simulator.core.prepared import Prepared
from simulator.core.security import digest_key
from simulator.core.settings import SsoSettings

PROTOCOL_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email_verified")
"""Claims of the protocol itself; the member's attributes follow, under the tenant's names."""


def discovery_document(issuer: str, sso: SsoSettings) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 provider metadata (``claims_supported`` as the tenant names them)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oidc/authorize",
        "token_endpoint": f"{issuer}/oidc/token",
        "userinfo_endpoint": f"{issuer}/oidc/userinfo",
        "jwks_uri": f"{issuer}/oidc/jwks",
        "registration_endpoint": f"{issuer}/oidc/register",
        "end_session_endpoint": f"{issuer}/oidc/logout",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            *PROTOCOL_CLAIMS,
            *(claim_name(attribute, sso) for attribute in CANONICAL_ATTRIBUTES),
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def jwks(session: Any, tenant_id: str) -> dict[str, Any]:
    """RFC 7517 JWK Set of every published signing key (active first, then the previous one)."""
    keys.active_key(session, tenant_id)
    return {"keys": [key.public_jwk() for key in keys.published_keys(session, tenant_id)]}


_ACCESS_TOKEN = Prepared(
    select(
        OidcToken.member_id,
        OidcToken.scope,
        OidcToken.client_id,
        OidcToken.access,
        OidcToken.revoked,
        OidcToken.expires_at,
    ).where(
        OidcToken.tenant_id == bindparam("tenant_id"),
        OidcToken.access_token_hash == bindparam("access_token_hash"),
    )
)


def userinfo(access_token: str) -> dict[str, Any] | None:
    """OIDC Core §5.3: the claims for a valid, unexpired, unrevoked access token (None otherwise)."""
    context = current()
    parameters = {"tenant_id": context.tenant_id, "access_token_hash": digest_key(access_token)}
    row = context.db.first(_ACCESS_TOKEN, parameters)
    if row is None or row.revoked or row.expires_at <= wall_now():
        return None
    member_id, scope, client_id, access = row.member_id, row.scope, row.client_id, row.access
    claims = user_claims(member_id, scope, client_id)
    if claims is None:
        return None
    if access is not None:
        claims[context.settings.sso.attribute_names.get("access", "access")] = access
    return {"sub": member_id, **claims}


def logout_redirect(
    id_token_hint: str | None, post_logout_redirect_uri: str | None, state: str | None, client_id: str | None
) -> str | None:
    """OIDC RP-Initiated Logout 1.0 §2/§3: where to send the browser after logout, if anywhere.

    The redirect URI MUST be one the client registered; the client is named by ``client_id`` or by the
    ``aud`` of an ``id_token_hint`` we signed (its expiry does not matter here).
    """
    context = current()
    if id_token_hint:
        hinted = _audience_of_our_token(id_token_hint)
        if hinted is None or (client_id and client_id != hinted):
            return None
        client_id = hinted
    if not post_logout_redirect_uri or not client_id:
        return None
    with context.db.read() as session:
        client = session.scalar(
            select(OidcClient).where(
                OidcClient.tenant_id == context.tenant_id, OidcClient.client_id == client_id
            )
        )
        registered = client.client_metadata.get("post_logout_redirect_uris", []) if client else []
    if post_logout_redirect_uri not in registered:
        return None
    if state:
        separator = "&" if "?" in post_logout_redirect_uri else "?"
        return f"{post_logout_redirect_uri}{separator}{urlencode({'state': state})}"
    return post_logout_redirect_uri


def _audience_of_our_token(token: str) -> str | None:
    context = current()
    with context.db.session() as session:
        published = keys.published_keys(session, context.tenant_id)
    key_set = KeySet([RSAKey.import_key(key.public_jwk()) for key in published])
    try:
        decoded = jwt.decode(token, key_set, algorithms=["RS256"])
    except (JoseError, ValueError):
        return None
    if decoded.claims.get("iss") != context.issuer:
        return None
    audience = decoded.claims.get("aud")
    if isinstance(audience, list):
        return audience[0] if len(audience) == 1 else None
    return audience if isinstance(audience, str) else None
