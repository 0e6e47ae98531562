"""Token hand-off tables: registered token services and the one-time tokens issued to them.

Services describe *who the tenant's partners are*, so they survive a tenant reset like SAML SPs and OIDC
clients (``survives_reset``); tokens are ordinary tenant data and go with a reset. Secrets and tokens are
stored only as SHA-256 digests.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import tenant_fk


class TokenService(Base):
    """A partner (usually an LMS) allowed to receive hand-off tokens and validate them."""

    __tablename__ = "idp_token_services"
    __table_args__ = (
        UniqueConstraint("tenant_id", "service_id"),
        UniqueConstraint("tenant_id", "name"),
        {"info": {"survives_reset": True}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    service_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    landing_url: Mapped[str] = mapped_column(String(2000))
    return_urls: Mapped[list[str]] = mapped_column(JSONDocument)
    attributes: Mapped[list[str] | None] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HandoffToken(Base):
    """A one-time token bound to a member and a service; ``used_at`` is set by the one redeeming call."""

    __tablename__ = "idp_handoff_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        Index("ix_idp_handoff_tokens_tenant_expires", "tenant_id", "expires_at"),
        {"info": {"member_data": "transient"}},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    token_hash: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[str] = mapped_column(String(32))
    flow: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
