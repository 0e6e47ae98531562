"""Payment gateway stub tables: card tokens, charges, idempotency keys and the per-tenant fingerprint key.

No column ever holds a card number or a CVC: a token keeps the brand, the last four digits, the expiry,
the outcome its test number selects and a keyed fingerprint (HMAC-SHA256 with the tenant's secret).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import tenant_fk
from simulator.core.secrets_at_rest import EncryptedText

CHARGE_STATUSES = ("succeeded", "requires_action", "failed", "voided", "refunded", "partially_refunded")


class GatewaySecret(Base):
    """The tenant's key for card fingerprints and request digests (never shown)."""

    __tablename__ = "gateway_secrets"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    secret: Mapped[str] = mapped_column(EncryptedText)


class CardToken(Base):
    """A tokenised card: what may be kept of it (never the number or CVC)."""

    __tablename__ = "gateway_cards"
    __table_args__ = (UniqueConstraint("tenant_id", "token"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    token: Mapped[str] = mapped_column(String(40))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    behaviour: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Charge(Base):
    """A charge against a token; ``refunds`` lists ``{"id", "amount", "at"}``."""

    __tablename__ = "gateway_charges"
    __table_args__ = (UniqueConstraint("tenant_id", "charge_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    charge_id: Mapped[str] = mapped_column(String(40))
    token: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    refunds: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first answer to a mutating call under an ``Idempotency-Key`` (per tenant and scope).

    ``request_digest`` is an HMAC of the method, path and body (so a body holding a card number is never
    stored); ``created_at`` is business time: keys expire 24 h after it.
    """

    __tablename__ = "gateway_idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
