"""Outbox tables: webhook endpoints per tenant, outgoing messages and every delivery attempt.

A message is written in the caller's transaction (with the event that produced it) and delivered later
by the worker, so an event and its message commit together or not at all. States:

``pending`` (never tried) → ``in_flight`` (claimed by a worker, with a lease) → ``delivered`` |
``retrying`` (waits for ``next_attempt_at`` on the tenant's business clock) | ``dead`` (no retry left, or
rejected for good). Messages of a disabled endpoint stay pending/retrying but are not claimed until it is
enabled again. A claim whose lease runs out (its worker stopped) is taken over by the next claim, which
records the attempt left unfinished as ``abandoned``, so attempts are numbered 1, 2, … without a gap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import BigId, tenant_fk
from simulator.core.secrets_at_rest import EncryptedText

MESSAGE_STATES = ("pending", "in_flight", "delivered", "retrying", "dead")
ENDPOINT_PURPOSES = ("writeback", "external", "subscriber")


class WebhookEndpoint(Base):
    """Where a tenant's messages go: a URL, its signing secret, and whether it is enabled."""

    __tablename__ = "outbox_endpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    name: Mapped[str] = mapped_column(String(80))
    purpose: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(EncryptedText)
    topics: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One message to one endpoint; ``message_id`` is its ``webhook-id`` and idempotency key."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_outbox_messages_due", "tenant_id", "state", "next_attempt_at"),
        Index("ix_outbox_messages_endpoint", "endpoint_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("outbox_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(120))
    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[Any] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    """The worker holding the current claim (``host:pid``)."""
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    """One attempt at delivering a message: which worker made it, what came back, how long it took.

    An ``abandoned`` attempt is one whose worker stopped before finishing (its lease ran out): it has no
    status and no latency, and ``error`` says which worker held it.
    """

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_message", "message_pk"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    message_pk: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    response_snippet: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(200))
