"""OIDC client registry: RFC 7591 client metadata, stored per tenant with a hashed secret (no Flask).

Example::

    with db.session() as session:
        client = register_client(session, "demo", ClientCreate(redirect_uris=["https://rp/cb"]))
        client["client_secret"]   # shown once
"""

from __future__ import annotations

import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.idp.models import OidcClient
from simulator.core.clock import wall_now
from simulator.core.errors import NotFound
from simulator.core.security import digest_key

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
PRIVATE_KEY_JWT = "private_key_jwt"
SUPPORTED_SCOPES = ("openid", "profile", "email", "membership", "offline_access")


def _check_uri(uri: str) -> str:
    """RFC 7591 §2 / OIDC Registration §2: absolute URIs without a fragment."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"'{uri}' must be an absolute http(s) URI without a fragment")
    return uri


class ClientCreate(BaseModel):
    """RFC 7591 §2 client metadata (the subset this provider acts on)."""

    model_config = ConfigDict(extra="ignore")

    client_name: str | None = Field(None, max_length=200)
    redirect_uris: list[str] = Field(..., min_length=1, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"  # noqa: S105 - a method name
    grant_types: list[Literal["authorization_code", "refresh_token"]] = Field(
        default_factory=lambda: ["authorization_code", "refresh_token"]
    )
    response_types: list[Literal["code"]] = Field(default_factory=lambda: ["code"])
    scope: str = Field(" ".join(SUPPORTED_SCOPES[:4]), max_length=500)
    jwks: dict[str, Any] | None = Field(None, description="The client's public keys (private_key_jwt).")
    jwks_uri: str | None = Field(None, max_length=2000)
    attributes: list[str] | None = Field(None, description="Canonical attributes released (default all).")

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        return [_check_uri(uri) for uri in uris]

    @field_validator("scope")
    @classmethod
    def _scopes(cls, scope: str) -> str:
        unknown = sorted(set(scope.split()) - set(SUPPORTED_SCOPES))
        if unknown:
            raise ValueError(f"unsupported scopes: {', '.join(unknown)}")
        return scope

    @model_validator(mode="after")
    def _keys_for_private_key_jwt(self) -> ClientCreate:
        if self.token_endpoint_auth_method == PRIVATE_KEY_JWT and not (self.jwks or self.jwks_uri):
            raise ValueError("private_key_jwt needs 'jwks' or 'jwks_uri'")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("'jwks' must be a JWK Set: {\"keys\": [...]}")
        if self.jwks_uri is not None:
            _check_uri(self.jwks_uri)
        return self


class ClientOut(BaseModel):
    client_id: str
    client_secret: str | None = Field(None, description="Only in the registration response.")
    client_id_issued_at: int
    client_secret_expires_at: int
    client_name: str | None = None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    token_endpoint_auth_method: str
    grant_types: list[str]
    response_types: list[str]
    scope: str
    jwks_uri: str | None = None
    attributes: list[str] | None = None


class ClientList(BaseModel):
    clients: list[ClientOut]


def client_json(client: OidcClient, secret: str | None = None) -> dict[str, Any]:
    metadata = dict(client.client_metadata)
    metadata.pop("jwks", None)
    body = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_secret_expires_at": 0,
        **metadata,
        "attributes": client.attributes,
    }
    if secret is not None:
        body["client_secret"] = secret
    return body


def register_client(session: Session, tenant_id: str, data: ClientCreate) -> dict[str, Any]:
    """Create a client; the secret (for the client_secret_* methods) is returned here and never again."""
    client_id = f"client_{secrets.token_urlsafe(12)}"
    secret = None
    if data.token_endpoint_auth_method != PRIVATE_KEY_JWT:
        secret = secrets.token_urlsafe(32)
    metadata = data.model_dump(exclude={"attributes"}, exclude_none=True)
    client = OidcClient(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret_hash=digest_key(secret) if secret else None,
        client_metadata=metadata,
        attributes=data.attributes,
        created_at=wall_now(),
    )
    session.add(client)
    session.flush()
    return client_json(client, secret)


def find_client(session: Session, tenant_id: str, client_id: str) -> OidcClient | None:
    statement = select(OidcClient).where(OidcClient.tenant_id == tenant_id, OidcClient.client_id == client_id)
    return session.scalar(statement)


def get_client(session: Session, tenant_id: str, client_id: str) -> OidcClient:
    client = find_client(session, tenant_id, client_id)
    if client is None:
        raise NotFound(f"There is no OIDC client '{client_id}'.", code="oidc_client_not_found")
    return client


def list_clients(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    statement = select(OidcClient).where(OidcClient.tenant_id == tenant_id).order_by(OidcClient.pk)
    return [client_json(client) for client in session.scalars(statement)]


def delete_client(session: Session, tenant_id: str, client_id: str) -> None:
    session.delete(get_client(session, tenant_id, client_id))
    session.flush()
