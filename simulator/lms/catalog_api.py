"""The LMS catalog as an API: create or update a course by code, and the AMS's signed catalog channel.

- ``PUT /t/{t}/api/courses/{code}`` (tenant or admin key): create (201) or update (200) a course; the
  way courses are made in the LMS when the tenant's ``catalog_owner`` is ``lms``.
- ``POST /t/{t}/catalog/webhooks``: ``catalog.course.published`` from the AMS outbox (``catalog_owner:
  ams``), signed (Standard Webhooks) with the purchase-sync secret the console gave both sides at
  seeding; creates or updates the course named by the AMS product's ``lms_code``.
- ``GET /t/{t}/catalog/courses``: the catalog for the AMS's import (``catalog_owner: lms``); the request
  is signed with that same secret (id, timestamp, empty body), so the AMS needs no LMS API key.

A course new to the LMS gets defaults for what an AMS product does not know: 1 contact hour of ``CEU``,
60 minutes, pass mark 70 (courses) or 75 % attendance (webinars). Updates change only what they send.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import request
from flask_openapi3 import Tag
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.core import json_text
from simulator.core.errors import BadRequest, NotFound, SandboxError, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.web import Problem, TenantPath, created, current_tenant, database, tenant_blueprint
from simulator.core.webhooks import WebhookVerificationError, verify
from simulator.lms.commerce.models import AmsLink
from simulator.lms.learning.models import Course
from simulator.lms.learning.service import course_json, list_courses
from simulator.lms.learning.views import Course as CourseOut
from simulator.lms.learning.views import CourseList

CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
PUBLISH_TOPIC = "catalog.course.published"

catalog_tag = Tag(name="catalog", description="Create and update courses; the AMS's catalog channel")
catalog_api = tenant_blueprint("lms_catalog", __name__, [catalog_tag], prefix="/api", secured=True)
catalog_link = tenant_blueprint("lms_catalog_link", __name__, [catalog_tag], prefix="/catalog")


class CourseFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    kind: Literal["course", "webinar"] | None = None
    contact_hours: float | None = Field(None, gt=0, le=100)
    credit_type: Literal["CLE", "CPE", "CME", "CEU"] | None = None
    pass_mark: float | None = Field(None, ge=0, le=100)
    attendance_threshold_minutes: int | None = Field(None, ge=0, le=24 * 60)
    duration_minutes: int | None = Field(None, ge=1, le=100 * 60)


class CatalogWebhookResult(BaseModel):
    webhook_id: str
    result: Literal["created", "updated"]
    course: CourseOut


class CourseCodePath(TenantPath):
    code: str = Field(..., pattern=CODE)


def upsert_course(
    session: Session, tenant_id: str, code: str, fields: CourseFields
) -> tuple[dict[str, Any], bool]:
    """Create or update the course ``code``; returns (course, created). A new course needs a title."""
    changes = fields.model_dump(exclude_unset=True, exclude_none=True)
    course = session.scalar(select(Course).where(Course.tenant_id == tenant_id, Course.code == code))
    is_new = course is None
    if course is None:
        if "title" not in changes:
            raise ValidationFailed(
                "A new course needs a title.",
                errors=[{"field": "title", "message": "required for a new course"}],
            )
        kind = changes.get("kind", "course")
        duration = changes.get("duration_minutes", 60)
        course = Course(
            tenant_id=tenant_id,
            code=code,
            kind=kind,
            contact_hours=1.0,
            credit_type="CEU",
            pass_mark=70.0 if kind == "course" else None,
            attendance_threshold_minutes=duration * 3 // 4 if kind == "webinar" else None,
            duration_minutes=duration,
        )
        session.add(course)
    for name, value in changes.items():
        setattr(course, name, value)
    session.flush()
    return course_json(course), is_new


def _verified(session: Session, tenant_id: str) -> str:
    link = session.scalar(select(AmsLink).where(AmsLink.tenant_id == tenant_id))
    if link is None:
        raise NotFound(f"Tenant '{tenant_id}' has no AMS link.", code="no_ams_link")
    try:
        return verify(link.webhook_secret, request.headers, request.get_data())
    except WebhookVerificationError as exc:
        raise SandboxError(exc.message, code=exc.reason, http_status=401) from exc


@catalog_api.put("/courses/<code>", responses={200: CourseOut, 201: CourseOut})
def put_course(path: CourseCodePath, body: CourseFields) -> Any:
    """Create (201) or update (200) a course by its stable code; a new course needs a `title`."""
    with database().session() as session:
        course, is_new = upsert_course(session, current_tenant().id, path.code, body)
    if is_new:
        return created(course, f"/t/{path.tenant}/api/courses/{path.code}")
    return course


@catalog_link.post("/webhooks", responses={200: CatalogWebhookResult, 400: Problem, 401: Problem})
def catalog_webhook(path: TenantPath) -> dict[str, Any]:
    """`catalog.course.published` from the AMS (signed): `{"type", "course": {"code", "title", "kind"}}`."""
    with database().session() as session:
        tenant = session.get(Tenant, current_tenant().id)
        assert tenant is not None
        webhook_id = _verified(session, tenant.id)
        try:
            payload = json_text.loads(request.get_data())
            code = str(payload["course"]["code"])
            fields = CourseFields.model_validate(
                {key: payload["course"][key] for key in ("title", "kind") if key in payload["course"]}
            )
        except (ValueError, TypeError, KeyError, ValidationError) as exc:
            raise BadRequest(
                "A catalog webhook carries 'course': {'code', 'title', 'kind'}.", code="bad_payload"
            ) from exc
        course, is_new = upsert_course(session, tenant.id, code, fields)
    return {"webhook_id": webhook_id, "result": "created" if is_new else "updated", "course": course}


@catalog_link.get("/courses", responses={200: CourseList, 401: Problem})
def catalog_for_ams(path: TenantPath) -> dict[str, Any]:
    """The catalog for the AMS's import; the request must be signed with the shared purchase secret."""
    with database().read() as session:
        _verified(session, current_tenant().id)
        return {"courses": list_courses(session, current_tenant().id)}
