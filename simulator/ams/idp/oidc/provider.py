"""The OpenID Connect provider's protocol pieces on authlib (no Flask here).

Storage arrives as small functions and grant subclasses (authlib's style); the tenant a request belongs
to is carried by :func:`use_tenant` (a context variable the view layer sets). Secrets, codes and tokens
are stored only as SHA-256 digests.

- Authorization code grant (RFC 6749 §4.1) with OpenID Connect (OIDC Core §3.1) and PKCE S256
  required for every client (RFC 7636 §4.4.1; ``plain`` refused).
- Codes are single-use and short-lived: claiming one marks it used in the same UPDATE (RFC 6749 §4.1.2).
- Refresh tokens rotate: using one revokes it (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2).
- Client authentication: client_secret_basic, client_secret_post, private_key_jwt (RFC 7523 §2.2).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, InvalidRequestError, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy import bindparam, insert, select, update

from simulator.ams.idp import keys
from simulator.ams.idp.attributes import claims_for_scopes, member_attributes, released
from simulator.ams.idp.login import signed_in_member
from simulator.ams.idp.models import OidcAuthorizationCode, OidcClient, OidcToken
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.prepared import Prepared
from simulator.core.security import digest_key, keys_equal
from simulator.core.settings import TenantSettings

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


@dataclass(frozen=True)
class TenantContext:
    """What the provider needs to know about the tenant of the current request.

    One context lives for one request, so what it reads is read once per request: the active signing key
    (the ID token's ``kid`` header and its signature then come from the same key even if a rotation
    lands mid-request) and each client looked up (client authentication and the claims released to that
    client see the same registration).
    """

    db: Database
    tenant_id: str
    issuer: str
    settings: TenantSettings
    _clients: dict[str, Client | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oidc/token"

    @cached_property
    def signing_key(self) -> keys.ParsedKey:
        """The tenant's active signing key."""
        return keys.ensure_active_key(self.db, self.tenant_id)

    def client(self, client_id: str) -> Client | None:
        """The registered client ``client_id`` of this tenant, or None."""
        if client_id not in self._clients:
            row = self.db.first(_CLIENT, {"tenant_id": self.tenant_id, "client_id": client_id})
            self._clients[client_id] = Client(row) if row is not None else None
        return self._clients[client_id]


_context: contextvars.ContextVar[TenantContext] = contextvars.ContextVar("oidc_tenant")


def use_tenant(context: TenantContext) -> contextvars.Token[TenantContext]:
    return _context.set(context)


def current() -> TenantContext:
    return _context.get()


@dataclass(frozen=True)
class SignedInUser:
    """The person a code or token is about, with the sign-in facts the ID token repeats."""

    member_id: str
    auth_time: int
    client_id: str
    access: str | None = None

    def get_user_id(self) -> str:
        return self.member_id


_CLIENT = Prepared(
    select(
        OidcClient.client_id, OidcClient.client_secret_hash, OidcClient.client_metadata, OidcClient.attributes
    ).where(OidcClient.tenant_id == bindparam("tenant_id"), OidcClient.client_id == bindparam("client_id"))
)


class Client(ClientMixin):
    """An authlib client over a stored :class:`OidcClient` (RFC 7591 metadata).

    ``row`` is an :class:`OidcClient` or a Core row with its ``client_id``, ``client_secret_hash``,
    ``client_metadata`` and ``attributes`` columns.
    """

    def __init__(self, row: Any) -> None:
        self.client_id = row.client_id
        self.secret_hash = row.client_secret_hash
        self.metadata: dict[str, Any] = dict(row.client_metadata)
        self.attributes = row.attributes

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """OIDC Core §3.1.2.1: ``redirect_uri`` is REQUIRED, so there is no default."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.metadata.get("scope", "").split()) | {"openid"}
        return " ".join(s for s in (scope or "openid").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """OIDC Core §3.1.2.1: simple string comparison with a registered URI (exact match)."""
        return redirect_uri in self.metadata.get("redirect_uris", [])

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and keys_equal(digest_key(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.metadata.get("token_endpoint_auth_method", "client_secret_basic")
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.metadata.get("response_types", ["code"])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.metadata.get("grant_types", ["authorization_code"])


class AuthorizationCode:
    """A claimed authorization code (authlib's AuthorizationCodeMixin and its OIDC additions).

    ``row`` is the ``oidc_authorization_codes`` row as the claiming UPDATE returned it (its columns are
    attributes).
    """

    def __init__(self, row: Any) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class Token(TokenMixin):
    def __init__(self, row: OidcToken) -> None:
        self.row = row

    def check_client(self, client: ClientMixin) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= wall_now()

    def is_revoked(self) -> bool:
        return self.row.revoked


def query_client(client_id: str) -> Client | None:
    return current().client(client_id)


_TOKENS = OidcToken.__table__
_SAVE_TOKEN = Prepared(insert(_TOKENS))


def save_token(token: dict[str, Any], request: Any) -> None:
    context = current()
    user: SignedInUser = request.user
    now = wall_now()
    refresh = token.get("refresh_token")
    context.db.run(
        _SAVE_TOKEN,
        {
            "tenant_id": context.tenant_id,
            "client_id": request.client.get_client_id(),
            "member_id": user.member_id,
            "scope": token.get("scope", ""),
            "access_token_hash": digest_key(token["access_token"]),
            "refresh_token_hash": digest_key(refresh) if refresh else None,
            "auth_time": user.auth_time,
            "access": user.access,
            "issued_at": now,
            "expires_at": now + dt.timedelta(seconds=int(token["expires_in"])),
            "revoked": False,
        },
    )


def token_generator() -> BearerTokenGenerator:
    def opaque(**_: Any) -> str:
        return secrets.token_urlsafe(32)

    def expires_in(client: Any, grant_type: str) -> int:
        return current().settings.sso.access_token_seconds

    return BearerTokenGenerator(opaque, opaque, expires_in)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 7636 §4.2, §4.4.1): ``plain`` and a missing method are refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method 'S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE 'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


_CODES = OidcAuthorizationCode.__table__
_SAVE_CODE = Prepared(insert(_CODES))
_CLAIM_CODE = Prepared(
    update(_CODES)
    .where(
        _CODES.c.tenant_id == bindparam("code_tenant"),
        _CODES.c.code_hash == bindparam("code_digest"),
        _CODES.c.client_id == bindparam("code_client"),
        _CODES.c.used_at.is_(None),
        _CODES.c.expires_at > bindparam("claimed_at"),
    )
    .values(used_at=bindparam("claimed_at"))
    .returning(*_CODES.c)
)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def __init__(self, request: Any, server: Any) -> None:
        super().__init__(request, server)
        self._validated_redirect_uri: str | None = None

    def validate_authorization_request(self) -> str:
        """RFC 6749 §4.1.1 and OIDC Core §3.1.2.2, validated once per request.

        authlib validates the request for the consent step and again when it creates the response. A
        grant lives for one request, so the second call answers with the first one's result instead of
        running the client lookup, the nonce check and the PKCE checks again.
        """
        if self._validated_redirect_uri is None:  # a valid request always names its redirect_uri
            self._validated_redirect_uri = super().validate_authorization_request()
        return self._validated_redirect_uri

    def generate_authorization_code(self) -> str:
        """48 random URL-safe characters (authlib's default length) from one ``secrets`` call."""
        return secrets.token_urlsafe(36)

    def save_authorization_code(self, code: str, request: Any) -> None:
        context = current()
        user: SignedInUser = request.user
        data = request.payload.data
        lifetime = context.settings.sso.authorization_code_seconds
        context.db.run(
            _SAVE_CODE,
            {
                "tenant_id": context.tenant_id,
                "code_hash": digest_key(code),
                "client_id": request.client.get_client_id(),
                "member_id": user.member_id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": request.payload.scope or "",
                "nonce": data.get("nonce"),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "auth_time": user.auth_time,
                "access": user.access,
                "expires_at": wall_now() + dt.timedelta(seconds=lifetime),
                "used_at": None,
            },
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Claim the code: one UPDATE marks it used and returns it, so a second use finds nothing
        (RFC 6749 §4.1.2)."""
        context = current()
        parameters = {
            "code_tenant": context.tenant_id,
            "code_digest": digest_key(code),
            "code_client": client.get_client_id(),
            "claimed_at": wall_now(),
        }
        row = context.db.first(_CLAIM_CODE, parameters)
        return AuthorizationCode(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing left to do: the code was marked used when it was claimed."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> SignedInUser:
        row = authorization_code.row
        return SignedInUser(row.member_id, row.auth_time, row.client_id, row.access)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        context = current()
        with context.db.read() as session:
            row = session.scalar(
                select(OidcToken).where(
                    OidcToken.tenant_id == context.tenant_id,
                    OidcToken.refresh_token_hash == digest_key(refresh_token),
                    OidcToken.revoked.is_(False),
                )
            )
            return Token(row) if row is not None else None

    def authenticate_user(self, refresh_token: Token) -> SignedInUser:
        row = refresh_token.row
        return SignedInUser(row.member_id, row.auth_time, row.client_id, row.access)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Rotation: the used refresh token (and its access token) die now; a replay finds nothing."""
        context = current()
        with context.db.session() as session:
            revoked = session.execute(
                update(OidcToken)
                .where(OidcToken.pk == refresh_token.row.pk, OidcToken.revoked.is_(False))
                .values(revoked=True)
            )
            if revoked.rowcount != 1:
                raise InvalidGrantError("The refresh token was already used.")


def user_claims(member_id: str, scope: str, client_id: str) -> dict[str, Any] | None:
    """The claims the granted ``scope`` releases about ``member_id`` to ``client_id`` (OIDC Core §5.4)."""
    context = current()
    member = signed_in_member(context.db, context.tenant_id, member_id)
    if member is None:
        return None
    values = member_attributes(member, context.settings.sso, None)
    client = context.client(client_id)
    values = released(values, client.attributes if client else None)
    return claims_for_scopes(values, set(scope.split()), context.settings.sso)
