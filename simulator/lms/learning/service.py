"""LMS learning services: enrollments and learning activity, each event routed to writeback at once.

No Flask here. Every activity call runs in the caller's transaction: the enrollment's new state, the
learning events and their writeback (outbox message or held batch record) commit together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.core.clock import tenant_now
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.settings import TenantSettings
from simulator.lms.commerce.models import PurchaseGrant
from simulator.lms.learning.models import CONTACT_HOURS_PER_CEU, Course, Enrollment, LearningEvent
from simulator.lms.learning.writeback import route_event
from simulator.lms.models import Learner


def course_json(course: Course) -> dict[str, Any]:
    return {
        "code": course.code,
        "title": course.title,
        "kind": course.kind,
        "contact_hours": course.contact_hours,
        "credits": credits_for(course),
        "credit_type": course.credit_type,
        "pass_mark": course.pass_mark,
        "attendance_threshold_minutes": course.attendance_threshold_minutes,
        "duration_minutes": course.duration_minutes,
    }


def credits_for(course: Course) -> float:
    """Credits a completion earns, in the course's credit type (CEU: 10 contact hours make 1 CEU)."""
    if course.credit_type == "CEU":
        return round(course.contact_hours / CONTACT_HOURS_PER_CEU, 2)
    return course.contact_hours


def list_courses(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    courses = session.scalars(select(Course).where(Course.tenant_id == tenant_id).order_by(Course.code))
    return [course_json(course) for course in courses]


def _course(session: Session, tenant_id: str, code: str) -> Course:
    course = session.scalar(select(Course).where(Course.tenant_id == tenant_id, Course.code == code))
    if course is None:
        raise NotFound(f"Tenant '{tenant_id}' has no course '{code}'.", code="course_not_found")
    return course


def _learner(session: Session, tenant: Tenant, member_id: str) -> Learner:
    """The learner for ``member_id``, created on first sight (an enrollment may precede any sign-on)."""
    learner = session.scalar(
        select(Learner).where(Learner.tenant_id == tenant.id, Learner.member_id == member_id)
    )
    if learner is None:
        now = tenant_now(tenant)
        learner = Learner(
            tenant_id=tenant.id,
            member_id=member_id,
            access="full",
            attributes={},
            created_at=now,
            updated_at=now,
        )
        session.add(learner)
        session.flush()
    return learner


def enrollment_json(enrollment: Enrollment, course: Course, learner: Learner) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": enrollment.pk,
        "member_id": learner.member_id,
        "course_code": course.code,
        "course_title": course.title,
        "course_kind": course.kind,
        "status": enrollment.status,
        "progress_percent": enrollment.progress_percent,
        "score": enrollment.score,
        "minutes_attended": enrollment.minutes_attended,
        "certificate_number": enrollment.certificate_number,
        "credits_awarded": enrollment.credits_awarded,
        "credit_type": course.credit_type,
        "enrolled_at": iso(enrollment.enrolled_at),
        "started_at": iso(enrollment.started_at),
        "completed_at": iso(enrollment.completed_at),
    }


def enroll(session: Session, tenant: Tenant, member_id: str, course_code: str) -> tuple[dict[str, Any], bool]:
    """Enrol ``member_id`` in a course; returns (enrollment, created) — enrolling twice returns the first."""
    course = _course(session, tenant.id, course_code)
    learner = _learner(session, tenant, member_id)
    enrollment = session.scalar(  # the tenant too, or no index serves it: a scan per enrollment
        select(Enrollment).where(
            Enrollment.tenant_id == tenant.id,
            Enrollment.learner_pk == learner.pk,
            Enrollment.course_pk == course.pk,
        )
    )
    if enrollment is not None:
        return enrollment_json(enrollment, course, learner), False
    enrollment = Enrollment(
        tenant_id=tenant.id,
        learner_pk=learner.pk,
        course_pk=course.pk,
        status="enrolled",
        progress_percent=0.0,
        enrolled_at=tenant_now(tenant),
    )
    session.add(enrollment)
    session.flush()
    return enrollment_json(enrollment, course, learner), True


def _load(session: Session, tenant_id: str, enrollment_id: int) -> tuple[Enrollment, Course, Learner]:
    row = session.execute(
        select(Enrollment, Course, Learner)
        .join(Course, Course.pk == Enrollment.course_pk)
        .join(Learner, Learner.pk == Enrollment.learner_pk)
        .where(Enrollment.tenant_id == tenant_id, Enrollment.pk == enrollment_id)
    ).first()
    if row is None:
        raise NotFound(
            f"Tenant '{tenant_id}' has no enrollment {enrollment_id}.", code="enrollment_not_found"
        )
    return row[0], row[1], row[2]


def get_enrollment(session: Session, tenant_id: str, enrollment_id: int) -> dict[str, Any]:
    return enrollment_json(*_load(session, tenant_id, enrollment_id))


def learner_enrollment(
    session: Session, tenant_id: str, member_id: str, enrollment_id: int
) -> dict[str, Any]:
    """One of ``member_id``'s own enrollments; another learner's is reported as not found."""
    enrollment, course, learner = _load(session, tenant_id, enrollment_id)
    if learner.member_id != member_id:
        raise NotFound(
            f"Tenant '{tenant_id}' has no enrollment {enrollment_id}.", code="enrollment_not_found"
        )
    return enrollment_json(enrollment, course, learner)


def list_enrollments(
    session: Session,
    tenant_id: str,
    member_id: str | None = None,
    course_code: str | None = None,
    limit: int = 100,
    status: str | None = None,
    since: int | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` enrollments after id ``since``, oldest first, each with its ``source``:
    ``purchase`` (granted by an AMS purchase, see :mod:`simulator.lms.commerce`) or ``api`` (made
    through the enrollments API, e.g. by a connector's sync)."""
    granted = (
        select(PurchaseGrant.pk)
        .where(
            PurchaseGrant.tenant_id == tenant_id,
            PurchaseGrant.member_id == Learner.member_id,
            PurchaseGrant.course_code == Course.code,
        )
        .exists()
    )
    query = (
        select(Enrollment, Course, Learner, granted)
        .join(Course, Course.pk == Enrollment.course_pk)
        .join(Learner, Learner.pk == Enrollment.learner_pk)
        .where(Enrollment.tenant_id == tenant_id)
    )
    if member_id:
        query = query.where(Learner.member_id == member_id)
    if course_code:
        query = query.where(Course.code == course_code)
    if status:
        query = query.where(Enrollment.status == status)
    if since:
        query = query.where(Enrollment.pk > since)
    rows = session.execute(query.order_by(Enrollment.pk).limit(limit)).all()
    return [
        {**enrollment_json(enrollment, course, learner), "source": "purchase" if purchased else "api"}
        for enrollment, course, learner, purchased in rows
    ]


class _Activity:
    """One activity call: the enrollment, its course and learner, and the events it emits."""

    def __init__(self, session: Session, tenant: Tenant, enrollment_id: int, lms_url: str) -> None:
        self.session, self.tenant = session, tenant
        self.settings = TenantSettings.model_validate(tenant.settings)
        self.enrollment, self.course, self.learner = _load(session, tenant.id, enrollment_id)
        self.now = tenant_now(tenant)
        self.lms_url = f"{lms_url}/t/{tenant.id}"
        self.triggers: list[str] = []
        self.writebacks = 0

    def context(self, trigger: str, event_id: str) -> dict[str, Any]:
        local = self.now.astimezone(self.settings.zone)
        enrollment, course = self.enrollment, self.course
        earned = trigger in ("course.passed", "webinar.attended", "certificate.issued", "credits.awarded")
        return {
            "event_id": event_id,
            "trigger": trigger,
            "member_id": self.learner.member_id,
            "course_code": course.code,
            "course_title": course.title,
            "course_kind": course.kind,
            "occurred_at": self.now.isoformat(),
            "occurred_at_local": local.isoformat(),
            "completion_date": local.date().isoformat(),
            "completion_date_utc": self.now.date().isoformat(),
            "timezone": self.settings.timezone,
            "score": enrollment.score,
            "pass_mark": course.pass_mark,
            "passed": None if enrollment.score is None else enrollment.status == "passed",
            "credits": credits_for(course) if earned else 0.0,
            "credit_type": course.credit_type,
            "contact_hours": course.contact_hours if earned else 0.0,
            "certificate_number": enrollment.certificate_number,
            "minutes_attended": enrollment.minutes_attended,
            "lms_url": self.lms_url,
        }

    def emit(self, trigger: str) -> None:
        event_id = "evt_" + uuid.uuid4().hex
        context = self.context(trigger, event_id)
        self.session.add(
            LearningEvent(
                tenant_id=self.tenant.id,
                event_id=event_id,
                enrollment_pk=self.enrollment.pk,
                trigger=trigger,
                occurred_at=self.now,
                context=context,
            )
        )
        self.writebacks += route_event(self.session, self.tenant.id, self.settings, context, self.now)
        self.triggers.append(trigger)

    def earn(self) -> None:
        self.enrollment.certificate_number = f"{self.course.code}-{self.enrollment.pk:07d}"
        self.emit("certificate.issued")
        if self.course.contact_hours > 0:
            self.enrollment.credits_awarded = credits_for(self.course)
            self.emit("credits.awarded")

    def result(self) -> dict[str, Any]:
        body = enrollment_json(self.enrollment, self.course, self.learner)
        return {**body, "triggers": self.triggers, "writebacks_queued": self.writebacks}

    def require_open(self) -> None:
        if self.enrollment.completed_at is not None:
            raise Conflict(
                f"Enrollment {self.enrollment.pk} is already finished ({self.enrollment.status}).",
                code="enrollment_finished",
            )

    def require_kind(self, kind: str) -> None:
        if self.course.kind != kind:
            use = "complete" if self.course.kind == "course" else "attend"
            raise ValidationFailed(
                f"'{self.course.code}' is a {self.course.kind}: use '{use}'.",
                code="wrong_activity_kind",
                errors=[{"field": "enrollment", "message": f"is a {self.course.kind}"}],
            )


def start(session: Session, tenant: Tenant, enrollment_id: int, lms_url: str) -> dict[str, Any]:
    """Start the enrollment (emits ``enrollment.started`` the first time)."""
    activity = _Activity(session, tenant, enrollment_id, lms_url)
    activity.require_open()
    if activity.enrollment.started_at is None:
        activity.enrollment.started_at, activity.enrollment.status = activity.now, "in_progress"
        activity.emit("enrollment.started")
    return activity.result()


def record_progress(
    session: Session, tenant: Tenant, enrollment_id: int, percent: float, lms_url: str
) -> dict[str, Any]:
    """Record progress (0–100); starts the enrollment when it was not started yet."""
    activity = _Activity(session, tenant, enrollment_id, lms_url)
    activity.require_open()
    if activity.enrollment.started_at is None:
        activity.enrollment.started_at, activity.enrollment.status = activity.now, "in_progress"
        activity.emit("enrollment.started")
    activity.enrollment.progress_percent = max(activity.enrollment.progress_percent, percent)
    return activity.result()


def complete(
    session: Session, tenant: Tenant, enrollment_id: int, score: float, lms_url: str
) -> dict[str, Any]:
    """Finish a course with a score: completed, then passed (certificate, credits) or failed."""
    activity = _Activity(session, tenant, enrollment_id, lms_url)
    activity.require_kind("course")
    activity.require_open()
    enrollment = activity.enrollment
    enrollment.started_at = enrollment.started_at or activity.now
    enrollment.score, enrollment.progress_percent, enrollment.completed_at = score, 100.0, activity.now
    passed = score >= (activity.course.pass_mark or 0.0)
    enrollment.status = "passed" if passed else "failed"
    activity.emit("course.completed")
    activity.emit("course.passed" if passed else "course.failed")
    if passed:
        activity.earn()
    return activity.result()


def attend(
    session: Session, tenant: Tenant, enrollment_id: int, minutes: int, lms_url: str
) -> dict[str, Any]:
    """Record webinar attendance: at or above the threshold it counts (certificate, credits)."""
    activity = _Activity(session, tenant, enrollment_id, lms_url)
    activity.require_kind("webinar")
    activity.require_open()
    enrollment = activity.enrollment
    enrollment.started_at = enrollment.started_at or activity.now
    enrollment.minutes_attended, enrollment.completed_at = minutes, activity.now
    threshold = activity.course.attendance_threshold_minutes or 0
    enrollment.progress_percent = min(100.0, 100.0 * minutes / max(activity.course.duration_minutes, 1))
    if minutes >= threshold:
        enrollment.status = "attended"
        activity.emit("webinar.attended")
        activity.earn()
    else:
        enrollment.status = "absent"
    return activity.result()
