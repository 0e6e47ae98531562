"""Identity-provider tables: signing keys, SAML service providers, OIDC clients, codes, used client
assertions and tokens.

Keys and registrations describe *who the tenant is* to its partners, so they survive a tenant reset
(``survives_reset``); codes, used assertions and tokens are ordinary tenant data and go with a reset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import tenant_fk
from simulator.core.secrets_at_rest import EncryptedText

KEY_STATES = ("active", "previous", "retired")


class SigningKey(Base):
    """An RSA 2048 key pair with a self-signed certificate; ``kid`` is its RFC 7638 JWK thumbprint."""

    __tablename__ = "idp_signing_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kid"),
        Index("ix_idp_signing_keys_tenant_state", "tenant_id", "state"),
        {"info": {"survives_reset": True}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    kid: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    private_key_pem: Mapped[str] = mapped_column(EncryptedText)
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SamlServiceProvider(Base):
    """A SAML SP registered from its metadata, with how our responses to it are signed and released."""

    __tablename__ = "idp_saml_service_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "entity_id"), {"info": {"survives_reset": True}})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    entity_id: Mapped[str] = mapped_column(String(1024))
    metadata_xml: Mapped[str] = mapped_column(Text)
    acs: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    slo: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    encryption_certificates: Mapped[list[str]] = mapped_column(JSONDocument)
    sign: Mapped[str] = mapped_column(String(16))
    encrypt_assertion: Mapped[bool] = mapped_column(Boolean)
    attributes: Mapped[list[str] | None] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OidcClient(Base):
    """An OpenID Connect relying party (RFC 7591 client metadata); the secret is stored as a digest."""

    __tablename__ = "idp_oidc_clients"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id"), {"info": {"survives_reset": True}})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    client_id: Mapped[str] = mapped_column(String(100))
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    attributes: Mapped[list[str] | None] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OidcAuthorizationCode(Base):
    """A one-time authorization code (OAuth 2.0 RFC 6749 §4.1.2), stored as a digest."""

    __tablename__ = "idp_oidc_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code_hash"),
        # the nonce replay check runs on every authorize request (twice per login)
        Index("ix_idp_oidc_codes_nonce", "tenant_id", "client_id", "nonce"),
        {"info": {"member_data": "transient"}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    code_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[int] = mapped_column(Integer)
    access: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OidcClientAssertion(Base):
    """A ``private_key_jwt`` client assertion already used, by its ``jti`` (RFC 7523 §3, item 7).

    Kept until the assertion can no longer be accepted (its ``exp`` plus the allowed clock skew). The
    ``jti`` is stored as a SHA-256 digest, so an identifier of any length fits the unique index.
    """

    __tablename__ = "idp_oidc_client_assertions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_id", "jti_digest"),
        Index("ix_idp_oidc_client_assertions_expires", "tenant_id", "expires_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    client_id: Mapped[str] = mapped_column(String(100))
    jti_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OidcToken(Base):
    """An access token and its (rotating) refresh token, both stored as digests."""

    __tablename__ = "idp_oidc_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "access_token_hash"),
        Index("ix_idp_oidc_tokens_tenant_refresh", "tenant_id", "refresh_token_hash"),
        {"info": {"member_data": "transient"}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    client_id: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    access_token_hash: Mapped[str] = mapped_column(String(64))
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int] = mapped_column(Integer)
    access: Mapped[str | None] = mapped_column(String(16))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
