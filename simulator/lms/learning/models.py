"""LMS learning tables: catalog, enrollments, learning events, and batch writebacks waiting for a window."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.core.db import Base, JSONDocument, UTCDateTime
from simulator.core.models import BigId, tenant_fk

COURSE_KINDS = ("course", "webinar")
CREDIT_TYPES = ("CLE", "CPE", "CME", "CEU")
CONTACT_HOURS_PER_CEU = 10
ENROLLMENT_STATUSES = ("enrolled", "in_progress", "passed", "failed", "attended", "absent")


class Course(Base):
    """A course or webinar with its CE value: contact hours, credit type, pass mark, attendance threshold."""

    __tablename__ = "lms_courses"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    contact_hours: Mapped[float] = mapped_column(Float)
    credit_type: Mapped[str] = mapped_column(String(8))
    pass_mark: Mapped[float | None] = mapped_column(Float)
    attendance_threshold_minutes: Mapped[int | None] = mapped_column(Integer)
    duration_minutes: Mapped[int] = mapped_column(Integer)


class Enrollment(Base):
    """A learner in a course: progress, score, attendance, certificate and credits earned."""

    __tablename__ = "lms_enrollments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "learner_pk", "course_pk"),
        Index("ix_lms_enrollments_tenant_course", "tenant_id", "course_pk"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    learner_pk: Mapped[int] = mapped_column(ForeignKey("lms_learners.pk", ondelete="CASCADE"))
    course_pk: Mapped[int] = mapped_column(ForeignKey("lms_courses.pk", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="enrolled")
    progress_percent: Mapped[float] = mapped_column(Float, default=0.0)
    score: Mapped[float | None] = mapped_column(Float)
    minutes_attended: Mapped[int | None] = mapped_column(Integer)
    certificate_number: Mapped[str | None] = mapped_column(String(40))
    credits_awarded: Mapped[float | None] = mapped_column(Float)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LearningEvent(Base):
    """Something a learner did that writeback rules may trigger on (one row per trigger fired)."""

    __tablename__ = "lms_learning_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        Index("ix_lms_learning_events_enrollment", "enrollment_pk"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    event_id: Mapped[str] = mapped_column(String(64))
    enrollment_pk: Mapped[int] = mapped_column(ForeignKey("lms_enrollments.pk", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    context: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class HeldWriteback(Base):
    """A rendered writeback envelope of a batch rule, waiting for the rule's next window (``due_at``)."""

    __tablename__ = "lms_held_writebacks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "envelope_id"),
        Index("ix_lms_held_writebacks_due", "tenant_id", "rule", "due_at"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_fk()
    envelope_id: Mapped[str] = mapped_column(String(80))
    rule: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
