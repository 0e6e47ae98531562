"""LMS tables. The LMS knows people only as learners keyed on the AMS member id it was told about
(by an assertion, a token or a webhook); it never reads an AMS table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import tenant_fk

LEARNER_ACCESS = ("full", "read_only", "restricted", "denied")


class Learner(Base):
    """A learner account, provisioned just in time at sign-on (or by an enrollment webhook).

    Identity is the AMS ``member_id`` (emails change); name, email, member type and status are refreshed
    from the AMS at every sign-on, and ``access`` is what the tenant's access policy made of them.
    """

    __tablename__ = "lms_learners"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id"),
        Index("ix_lms_learners_tenant_email", "tenant_id", "email"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    member_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    member_type: Mapped[str | None] = mapped_column(String(32))
    member_status: Mapped[str | None] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(16), default="full")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_sign_on_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
