"""authlib extensions of the OIDC provider: ID tokens and ``private_key_jwt`` (no Flask here)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import bindparam, select

from simulator.ams.idp.models import OidcAuthorizationCode
from simulator.ams.idp.oidc.assertions import record_assertion
from simulator.ams.idp.oidc.provider import Client, SignedInUser, current, user_claims
from simulator.core import json_text
from simulator.core.prepared import Prepared
from simulator.core.tls import client_verify

_jose_keys: dict[str, RSAKey] = {}
MAX_JWKS_BYTES = 1024 * 1024
"""A client's ``jwks_uri`` document larger than this is not read."""

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

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """authlib's reading of the unverified assertion, with a payload nested too deeply refused too."""
        try:
            return super().extract_assertion(assertion)
        except RecursionError:  # authlib parses the payload with json.loads
            raise InvalidClientError(description="Invalid JWT payload.") from None

    def resolve_client_public_key(self, client: Client) -> KeySet:
        """The client's registered ``jwks``, or the document at its registered ``jwks_uri``.

        Only registered keys count: a ``jku``, ``x5u`` or ``jwk`` in the assertion's header is never
        fetched nor trusted (RFC 8725 §3.10). An unreachable or unreadable ``jwks_uri`` refuses the client.
        """
        jwks = client.metadata.get("jwks")
        if jwks is None and client.metadata.get("jwks_uri"):
            jwks = _fetch_jwks(client.metadata["jwks_uri"])
        try:
            return KeySet.import_key_set(jwks or {"keys": []})
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="The client's registered keys are not a JWK set.") from exc


def _fetch_jwks(url: str) -> Any:
    """The JSON document at a client's ``jwks_uri``, read to at most :data:`MAX_JWKS_BYTES`."""
    body = bytearray()
    try:
        with httpx.stream("GET", url, timeout=5.0, verify=client_verify()) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise InvalidClientError(
                        description=f"The client's jwks_uri answers with more than {MAX_JWKS_BYTES} bytes."
                    )
    except httpx.HTTPError as exc:
        raise InvalidClientError(description=f"The client's jwks_uri could not be fetched ({url}).") from exc
    try:
        return json_text.loads(bytes(body))
    except ValueError as exc:
        raise InvalidClientError(description="The client's jwks_uri does not answer with JSON.") from exc
