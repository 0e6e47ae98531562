"""AMS tables: the system of record for people and organisations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import tenant_fk

RECORD_TYPES = ("member", "non_member", "prospect")
MEMBER_TYPES = ("regular", "student", "retired", "flex")
MEMBER_STATUSES = ("active", "grace", "lapsed", "inactive")


class Organisation(Base):
    __tablename__ = "ams_organisations"
    __table_args__ = (UniqueConstraint("tenant_id", "org_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    org_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))


class Member(Base):
    """A person known to the AMS: a member, a non-member customer or a prospect.

    ``member_id`` is the stable identifier other systems key on (emails change); ``member_type`` and
    ``status`` describe the membership and are empty for non-members and prospects.
    """

    __tablename__ = "ams_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id"),
        UniqueConstraint("tenant_id", "email"),
        Index("ix_ams_members_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_ams_members_tenant_status", "tenant_id", "status"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    record_type: Mapped[str] = mapped_column(String(16))
    member_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    join_date: Mapped[dt.date | None] = mapped_column(Date)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    organisation_pk: Mapped[int | None] = mapped_column(
        ForeignKey("ams_organisations.pk", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    roles: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
