"""authlib extensions of the OIDC provider: ID tokens and ``private_key_jwt`` (no Flask here)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import bindparam, select

from simulator.ams.idp.models import OidcAuthorizationCode
from simulator.ams.idp.oidc.assertions import record_assertion
from simulator.ams.idp.oidc.provider import Client, SignedInUser, current, user_claims
from simulator.core.prepared import Prepared
from simulator.core.tls import client_verify

_jose_keys: dict[str, RSAKey] = {}

_NONCE_USED = Prepared(
    select(OidcAuthorizationCode.pk)
    .where(
        OidcAuthorizationCode.tenant_id == bindparam("tenant_id"),
        OidcAuthorizationCode.client_id == bindparam("client_id"),
        OidcAuthorizationCode.nonce == bindparam("nonce"),
    )
    .limit(1)
)


class TenantOpenIDCode(OpenIDCode):
    """ID tokens (OIDC Core §2, §3.1.3.6): RS256 with ``kid``, iss, aud, exp, nonce, at_hash, auth_time."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        context = current()
        parameters = {"tenant_id": context.tenant_id, "client_id": request.payload.client_id, "nonce": nonce}
        return context.db.first(_NONCE_USED, parameters) is not None

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        """The active key as a JOSE key, parsed once per process (PEM parsing costs ~35 ms)."""
        key = current().signing_key
        jose_key = _jose_keys.get(key.kid)
        if jose_key is None:
            jose_key = RSAKey.import_key(key.private_key_pem, {"kid": key.kid})
            _jose_keys[key.kid] = jose_key
        return jose_key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": current().signing_key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        context = current()
        now = int(time.time())
        return {
            "iss": context.issuer,
            "aud": [client.get_client_id()],
            "azp": client.get_client_id(),
            "iat": now,
            "exp": now + context.settings.sso.access_token_seconds,
        }

    def generate_user_info(self, user: SignedInUser, scope: str) -> UserInfo:
        claims = user_claims(user.member_id, scope, user.client_id) or {}
        if user.access is not None:
            claims[current().settings.sso.attribute_names.get("access", "access")] = user.access
        return UserInfo(sub=user.member_id, **claims)


class PrivateKeyJwt(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication (OIDC Core §9, RFC 7523 §3): aud = token endpoint."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        context = current()
        return [context.token_endpoint, context.issuer]

    def validate_jti(self, claims: Any, jti: str) -> bool:
        """A ``jti`` is accepted once per client, in every process (RFC 7523 §3, item 7).

        It is recorded in the database until the assertion expires (``exp`` plus the clock-skew leeway
        it is accepted with); see :mod:`simulator.ams.idp.oidc.assertions`.
        """
        context = current()
        valid_until = claims["exp"] + self.leeway
        return record_assertion(context.db, context.tenant_id, str(claims["sub"]), jti, valid_until)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        jwks = client.metadata.get("jwks")
        if jwks is None and client.metadata.get("jwks_uri"):
            jwks = httpx.get(client.metadata["jwks_uri"], timeout=5.0, verify=client_verify()).json()
        return KeySet.import_key_set(jwks or {"keys": []})
