"""Tables shared below both apps: tenants, fault rules, the request journal and scheduled jobs.

Every tenant-owned row carries ``tenant_id`` (cascading delete). Tables whose rows must survive a tenant
reset (its identity and keys) say so with ``info={"survives_reset": True}``; every other tenant-owned
table is emptied by a reset, so a new table can never be forgotten by it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.secrets_at_rest import JSONWithSecrets

BigId = BigInteger().with_variant(Integer(), "sqlite")


def tenant_fk() -> Mapped[str]:
    return mapped_column(String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = {"info": {"survives_reset": True}}

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONWithSecrets)
    initial_settings: Mapped[dict[str, Any]] = mapped_column(JSONWithSecrets)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    seed_members: Mapped[int] = mapped_column(Integer, default=0)
    clock_offset_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    clock_frozen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FaultRule(Base):
    __tablename__ = "fault_rules"
    __table_args__ = (Index("ix_fault_rules_tenant_position", "tenant_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    position: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    matched_count: Mapped[int] = mapped_column(Integer, default=0)
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_tenant_seq", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    app: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))
    query: Mapped[str] = mapped_column(Text, default="")
    request_headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    request_body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    response_body: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float] = mapped_column(Float)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class ScheduledJob(Base):
    __tablename__ = "scheduled_jobs"
    __table_args__ = (
        Index("ix_scheduled_jobs_due", "state", "due_at"),
        Index("ix_scheduled_jobs_tenant_due", "tenant_id", "state", "due_at"),
        UniqueConstraint("tenant_id", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    kind: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FailedKeyAttempt(Base):
    """A refused API key, counted against the client that sent it until ``expires_at``.

    Not tenant-owned: a client guessing keys is one client whichever tenant's URLs it tries, and a tenant
    reset must not lift its lockout (:mod:`simulator.core.key_attempts`).
    """

    __tablename__ = "failed_key_attempts"
    __table_args__ = (
        Index("ix_failed_key_attempts_client_expires", "client", "expires_at"),
        Index("ix_failed_key_attempts_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
