"""Service-provider tables: the SP's own key, outstanding AuthnRequests, seen assertions, OIDC clients.

The SP key and the OIDC client registration are the LMS's identity towards its IdP, so they survive a
tenant reset (``survives_reset``); request ids and the replay cache are ordinary tenant data.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, UTCDateTime
from simulator.core.models import tenant_fk
from simulator.core.secrets_at_rest import EncryptedText


class ServiceProviderKey(Base):
    """The tenant's SP signing/encryption key: RSA 2048 and a self-signed certificate, made on first use."""

    __tablename__ = "lms_sp_keys"
    __table_args__ = (UniqueConstraint("tenant_id"), {"info": {"survives_reset": True}})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    private_key_pem: Mapped[str] = mapped_column(EncryptedText)
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PendingAuthnRequest(Base):
    """An AuthnRequest we sent and may still receive an answer to (SAML profiles §4.1.4.3)."""

    __tablename__ = "lms_saml_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id"),
        Index("ix_lms_saml_requests_expires", "expires_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    request_id: Mapped[str] = mapped_column(String(128))
    relay_state: Mapped[str | None] = mapped_column(String(2048))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SeenAssertion(Base):
    """An assertion ID already consumed; kept until the assertion expires (SAML profiles §4.1.4.5)."""

    __tablename__ = "lms_saml_seen_assertions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "assertion_id"),
        Index("ix_lms_saml_seen_assertions_expires", "expires_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    assertion_id: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OidcClientRegistration(Base):
    """The LMS's client at an OpenID provider, obtained by dynamic registration (RFC 7591)."""

    __tablename__ = "lms_oidc_clients"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer"), {"info": {"survives_reset": True}})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    issuer: Mapped[str] = mapped_column(String(1024))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[str | None] = mapped_column(EncryptedText)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
