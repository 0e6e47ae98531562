"""AMS writeback tables: inbox secrets, accepted records, the inbox log of refusals, member tags."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import BigId, tenant_fk
from simulator.core.secrets_at_rest import EncryptedText

DESTINATIONS = ("ce_transcript", "activity_history", "profile_field", "badge")
CREDIT_TYPES = ("CLE", "CPE", "CME", "CEU")


class InboxSecret(Base):
    """A secret the inbox accepts signatures from (several at once while a secret is rotated)."""

    __tablename__ = "ams_inbox_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    secret: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WritebackRecord(Base):
    """An accepted writeback record, stored on the member in its destination.

    Unique twice: by ``record_id`` (the envelope id, the sender's idempotency key) and by the natural key
    (member, destination, activity, completion date), so neither a retry nor a re-sent copy under a new
    id can double a record. The natural key leads with the member, so it also serves every lookup of a
    member's records: each index costs a delivery a page per member it touches (migration 0009).
    """

    __tablename__ = "ams_writeback_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "record_id"),
        UniqueConstraint(
            "tenant_id",
            "member_id",
            "destination",
            "activity_code",
            "completed_on",
            name="uq_ams_writeback_records_natural_key",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    record_id: Mapped[str] = mapped_column(String(120))
    destination: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[str] = mapped_column(String(64))
    activity_code: Mapped[str] = mapped_column(String(120))
    activity_title: Mapped[str | None] = mapped_column(String(300))
    completed_on: Mapped[dt.date] = mapped_column(Date)
    credit_type: Mapped[str | None] = mapped_column(String(8))
    credits: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    certificate_number: Mapped[str | None] = mapped_column(String(80))
    value: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str | None] = mapped_column(String(40))
    format: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InboxEntry(Base):
    """A record the inbox did not store: a duplicate (by id or natural key) or a rejection with its reason."""

    __tablename__ = "ams_inbox_entries"
    __table_args__ = (Index("ix_ams_inbox_entries_tenant_result", "tenant_id", "result", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    record_id: Mapped[str | None] = mapped_column(String(120))
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    member_id: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(20))
    webhook_id: Mapped[str | None] = mapped_column(String(120))
    envelope: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MemberTag(Base):
    """A badge or segment membership the AMS gave a member because of a writeback."""

    __tablename__ = "ams_member_tags"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    source_record_id: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
