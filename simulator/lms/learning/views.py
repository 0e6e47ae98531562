"""LMS learning API (``/t/{tenant}/api/...``, tenant or admin key): courses, enrollments, activity.

Views only translate HTTP; every activity call is one transaction in :mod:`.service`.
"""

from __future__ import annotations

from typing import Any, Literal

from flask_openapi3 import Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.core.db import INT64_MAX
from simulator.core.models import Tenant
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    app_state,
    created,
    current_tenant,
    database,
    tenant_blueprint,
)
from simulator.lms.learning import service

learning_tag = Tag(name="learning", description="Courses, webinars, enrollments and learning activity")
learning_api = tenant_blueprint("learning", __name__, [learning_tag], prefix="/api", secured=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollmentCreate(_Strict):
    member_id: str = Field(..., min_length=1, max_length=64, description="The AMS member id.")
    course_code: str = Field(..., min_length=1, max_length=40)


class EnrollmentPath(TenantPath):
    enrollment_id: int = Field(..., ge=1, le=INT64_MAX)


class EnrollmentQuery(RequestParameters, _Strict):
    member_id: str | None = None
    course_code: str | None = None
    status: Literal["enrolled", "in_progress", "passed", "failed", "attended", "absent"] | None = None
    since: int | None = Field(
        None, ge=0, le=INT64_MAX, description="Enrollments after this id (`next_since`)."
    )
    limit: int = Field(100, ge=1, le=1000)


class ProgressBody(_Strict):
    percent: float = Field(..., ge=0, le=100)


class CompleteBody(_Strict):
    score: float = Field(..., ge=0, le=100, description="Final score in percent.")


class AttendBody(_Strict):
    minutes: int = Field(..., ge=0, le=24 * 60, description="Minutes the learner attended.")


class Course(BaseModel):
    code: str
    title: str
    kind: Literal["course", "webinar"]
    contact_hours: float
    credits: float = Field(..., description="What a completion earns (CEU: 10 contact hours make 1).")
    credit_type: Literal["CLE", "CPE", "CME", "CEU"]
    pass_mark: float | None = Field(..., description="Courses: the score (percent) that passes.")
    attendance_threshold_minutes: int | None = Field(
        ..., description="Webinars: minutes attended that count as attended."
    )
    duration_minutes: int


class CourseList(BaseModel):
    courses: list[Course] = Field(..., description="By code.")


class Enrollment(BaseModel):
    id: int
    member_id: str
    course_code: str
    status: str
    triggers: list[str] | None = Field(None, description="Triggers this call fired, in order.")


class EnrollmentOut(BaseModel):
    id: int
    member_id: str
    course_code: str
    course_title: str
    course_kind: str
    status: str
    progress_percent: float
    score: float | None
    minutes_attended: int | None
    certificate_number: str | None
    credits_awarded: float | None
    credit_type: str
    enrolled_at: str
    started_at: str | None
    completed_at: str | None
    source: Literal["purchase", "api"] = Field(
        ..., description="`purchase`: granted by an AMS purchase; `api`: made through this API."
    )


class EnrollmentList(BaseModel):
    enrollments: list[EnrollmentOut]
    next_since: int | None = Field(
        ..., description="Pass as `since` for the next page; null when this page was the last."
    )


def _lms_url() -> str:
    return app_state().config.lms_url


def _tenant(session: Any) -> Tenant:
    tenant = session.get(Tenant, current_tenant().id)
    assert tenant is not None
    return tenant


@learning_api.get("/courses", responses={200: CourseList})
def list_courses(path: TenantPath) -> dict[str, Any]:
    """The catalog: courses and webinars with contact hours, credits, credit type and pass rules."""
    with database().read() as session:
        return {"courses": service.list_courses(session, current_tenant().id)}


@learning_api.post("/enrollments", responses={201: Enrollment, 200: Enrollment})
def create_enrollment(path: TenantPath, body: EnrollmentCreate) -> Any:
    """Enrol a member (the learner is created from the member id if unknown); enrolling twice is a no-op."""
    with database().session() as session:
        enrollment, is_new = service.enroll(session, _tenant(session), body.member_id, body.course_code)
    if not is_new:
        return enrollment
    return created(enrollment, f"/t/{path.tenant}/api/enrollments/{enrollment['id']}")


@learning_api.get("/enrollments", responses={200: EnrollmentList})
def list_enrollments(path: TenantPath, query: EnrollmentQuery) -> dict[str, Any]:
    """Enrollments, oldest first, filtered by member, course and/or status, each with its `source`;
    follow `next_since` for the next page."""
    with database().read() as session:
        items = service.list_enrollments(
            session,
            current_tenant().id,
            query.member_id,
            query.course_code,
            query.limit,
            status=query.status,
            since=query.since,
        )
    return {"enrollments": items, "next_since": items[-1]["id"] if len(items) == query.limit else None}


@learning_api.get("/enrollments/<int:enrollment_id>", responses={200: Enrollment})
def get_enrollment(path: EnrollmentPath) -> dict[str, Any]:
    """One enrollment."""
    with database().read() as session:
        return service.get_enrollment(session, current_tenant().id, path.enrollment_id)


@learning_api.post("/enrollments/<int:enrollment_id>/start", responses={200: Enrollment, 409: Problem})
def start(path: EnrollmentPath) -> dict[str, Any]:
    """Start learning (fires `enrollment.started` once)."""
    with database().session() as session:
        return service.start(session, _tenant(session), path.enrollment_id, _lms_url())


@learning_api.post("/enrollments/<int:enrollment_id>/progress", responses={200: Enrollment, 409: Problem})
def progress(path: EnrollmentPath, body: ProgressBody) -> dict[str, Any]:
    """Record progress in percent (never goes back)."""
    with database().session() as session:
        return service.record_progress(
            session, _tenant(session), path.enrollment_id, body.percent, _lms_url()
        )


@learning_api.post("/enrollments/<int:enrollment_id>/complete", responses={200: Enrollment, 409: Problem})
def complete(path: EnrollmentPath, body: CompleteBody) -> dict[str, Any]:
    """Finish a course with a score: `course.completed`, then `course.passed` (+ `certificate.issued`,
    `credits.awarded`) or `course.failed`."""
    with database().session() as session:
        return service.complete(session, _tenant(session), path.enrollment_id, body.score, _lms_url())


@learning_api.post("/enrollments/<int:enrollment_id>/attend", responses={200: Enrollment, 409: Problem})
def attend(path: EnrollmentPath, body: AttendBody) -> dict[str, Any]:
    """Record webinar attendance; at or above the threshold: `webinar.attended`, certificate and credits."""
    with database().session() as session:
        return service.attend(session, _tenant(session), path.enrollment_id, body.minutes, _lms_url())
