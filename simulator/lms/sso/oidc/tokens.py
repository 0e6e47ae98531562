"""ID token validation for the code flow (OpenID Connect Core 1.0 §3.1.3.7).

- The signature MUST verify with a key from the provider's JWKS; a ``kid`` the cached JWKS lacks makes
  the JWKS be fetched again once (key rotation), and an unknown ``kid`` after that is refused.
- ``alg`` MUST be RS256: ``none`` and HMAC algorithms (HS*) are refused (§3.1.3.7 items 6–8).
- ``iss`` MUST equal the discovered issuer; ``aud`` MUST contain our client id; with several audiences
  ``azp`` MUST be present and equal to our client id; ``exp`` MUST be in the future and ``iat`` not in
  the future (both with the tenant's skew); ``nonce`` MUST equal the one sent; ``at_hash``, when present,
  MUST match the access token (§3.1.3.8); ``sub`` MUST be present.

Example::

    claims = validate_id_token(id_token, jwks_uri, issuer, client_id, nonce, access_token, skew_seconds)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingAlgorithmError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from simulator.core.caching import BoundedCache
from simulator.core.errors import SandboxError
from simulator.lms.sso.remote import fetch_text, json_object

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ["RS256"]
KEY_SET_CACHE_SIZE = 16

_key_sets: BoundedCache[str, KeySet] = BoundedCache(KEY_SET_CACHE_SIZE)


class IdTokenRejected(SandboxError):
    code = "oidc_id_token_rejected"
    http_status = 403


def _key_set(jwks_uri: str, refresh: bool) -> KeySet:
    """The provider's keys, imported once per JWKS document (importing RSA keys costs more than the
    signature check they serve)."""
    text = fetch_text(jwks_uri, refresh=refresh)
    key_set = _key_sets.get(text)
    if key_set is None:
        try:
            key_set = KeySet.import_key_set(json_object(jwks_uri, text))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError) as exc:
            log.info("the JWKS at %s is not usable", jwks_uri, exc_info=True)
            raise IdTokenRejected(
                f"The provider's JWKS at {jwks_uri} is not a usable JSON Web Key Set."
            ) from exc
        _key_sets.put(text, key_set)
    return key_set


def _decode(id_token: str, jwks_uri: str) -> Any:
    registry = JWSRegistry(algorithms=ALLOWED_ALGORITHMS)
    try:
        try:
            return jwt.decode(id_token, _key_set(jwks_uri, refresh=False), registry=registry)
        except InvalidKeyIdError:
            return jwt.decode(id_token, _key_set(jwks_uri, refresh=True), registry=registry)
    except InvalidKeyIdError as exc:
        raise IdTokenRejected("The ID token names a key the provider does not publish.") from exc
    except (JoseError, ValueError) as exc:
        raise IdTokenRejected(_token_problem(exc)) from exc


def _token_problem(exc: Exception) -> str:
    """One sentence for what joserfc found wrong with an ID token (its own texts are error codes)."""
    if isinstance(exc, BadSignatureError):
        return "The ID token's signature does not verify with the provider's keys."
    if isinstance(exc, UnsupportedAlgorithmError | MissingAlgorithmError):
        return "The ID token's algorithm is refused; RS256 is required."
    if isinstance(exc, ExpiredTokenError):
        return "The ID token has expired."
    if isinstance(exc, MissingClaimError):
        return f"The ID token lacks the {exc.claim!r} claim."
    if isinstance(exc, ClaimError):
        return f"The ID token's {exc.claim!r} claim is not valid."
    return "The ID token is not a well-formed signed JWT."


def validate_id_token(
    id_token: str,
    jwks_uri: str,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None,
    skew_seconds: int,
) -> dict[str, Any]:
    """The ID token's claims, once every check of OIDC Core §3.1.3.7 holds; raises otherwise."""
    token = _decode(id_token, jwks_uri)
    if token.header.get("alg") not in ALLOWED_ALGORITHMS:
        raise IdTokenRejected(f"ID token alg {token.header.get('alg')!r} is refused; RS256 is required.")
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"essential": True, "value": issuer}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(leeway=skew_seconds)
    except JoseError as exc:
        raise IdTokenRejected(_token_problem(exc)) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if client_id not in audiences:
        raise IdTokenRejected(f"The ID token is meant for {audiences}, not for client {client_id}.")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IdTokenRejected("The ID token has several audiences but no azp naming this client.")
    if not isinstance(claims.get("iat"), int | float) or claims["iat"] > time.time() + skew_seconds:
        raise IdTokenRejected("The ID token's iat is missing or in the future.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenRejected("The ID token has no sub.")
    if claims.get("nonce") != nonce:
        raise IdTokenRejected("The ID token's nonce is not the one this browser was given.")
    return dict(claims)
