"""LMS commerce tables: the link to the AMS, received purchase webhooks, and enrollments granted by them.

``lms_purchase_grants`` remembers which enrollments a purchase created, so a refund (by webhook, or by the
entitlements the LMS pulls at sign-on) removes exactly those and never one made another way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, UTCDateTime
from simulator.core.models import tenant_fk
from simulator.core.secrets_at_rest import EncryptedText


class AmsLink(Base):
    """How this tenant's LMS reaches its AMS: base URL, key for the entitlements API, webhook secret."""

    __tablename__ = "lms_ams_links"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    ams_url: Mapped[str] = mapped_column(String(2000))
    api_key: Mapped[str] = mapped_column(EncryptedText)
    webhook_secret: Mapped[str] = mapped_column(EncryptedText)


class PurchaseWebhook(Base):
    """A purchase webhook already processed (``webhook-id``): a redelivery changes nothing."""

    __tablename__ = "lms_purchase_webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "webhook_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    webhook_id: Mapped[str] = mapped_column(String(120))
    topic: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PurchaseGrant(Base):
    """An enrollment that exists because the AMS said the member is entitled to the course."""

    __tablename__ = "lms_purchase_grants"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id", "course_code"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(64))
    course_code: Mapped[str] = mapped_column(String(40))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PurchaseSyncState(Base):
    """The version of the newest entitlement set applied for a member (older sets are ignored)."""

    __tablename__ = "lms_purchase_sync_states"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
