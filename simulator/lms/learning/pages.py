"""LMS "My learning" pages for a learner signed in through SSO: ``/t/{tenant}/learning``.

Views only translate HTTP: they read the sign-in (:mod:`simulator.lms.sso.session`), check the form's
CSRF token, and call the same services as the API (:mod:`.service`), so a page action fires the same
triggers and writebacks as the API call. A visitor who is not signed in is sent to ``/t/{t}/login``; a
``read_only`` learner (access policy) sees the page without its forms and may not post; a ``denied``
one is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, redirect, render_template, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.core import csrf
from simulator.core.errors import Forbidden, SandboxError
from simulator.core.models import Tenant
from simulator.core.tenancy import tenant_settings
from simulator.core.web import app_state, database, resolve_tenant
from simulator.lms.learning import service
from simulator.lms.sso import provisioning
from simulator.lms.sso import session as browser

learning_pages = Blueprint("learning_pages", __name__, url_prefix="/t/<tenant>/learning")
CSRF_KEY = "lms_learning_csrf"
"""The session entry of the learning forms' CSRF tokens (:mod:`simulator.core.csrf`)."""
OPEN_STATUSES = ("enrolled", "in_progress")


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProgressForm(_Form):
    percent: float = Field(..., ge=0, le=100)


class CompleteForm(_Form):
    score: float = Field(..., ge=0, le=100)


class AttendForm(_Form):
    minutes: int = Field(..., ge=0, le=24 * 60)


class NotSignedIn(Exception):
    """Nobody (or a learner who no longer exists) is signed in to this tenant's LMS."""


@learning_pages.before_request
def _resolve_tenant() -> None:
    g.tenant = resolve_tenant((request.view_args or {}).get("tenant", ""))


@learning_pages.errorhandler(NotSignedIn)
def _to_login(_error: NotSignedIn) -> Response:
    tenant_id = g.tenant.id
    return redirect(f"/t/{tenant_id}/login?return_to={quote(f'/t/{tenant_id}/learning', safe='')}", 302)


@learning_pages.errorhandler(SandboxError)
def _error(error: SandboxError) -> Response:
    if error.code == "access_denied":
        branding = tenant_settings(g.tenant).branding
        html = render_template(
            "sso_message.html",
            title="Access denied",
            message=error.message,
            code=error.code,
            link=None,
            association=branding.association_name,
            primary_colour=branding.primary_colour,
            accent_colour=branding.accent_colour,
        )
        return Response(html, status=error.http_status, mimetype="text/html")
    return _render(error=error.message, status=error.http_status)


def _learner() -> Any:
    record = browser.signed_in(g.tenant.id)
    learner = provisioning.find_learner(database(), g.tenant.id, record["member_id"]) if record else None
    if learner is None:
        raise NotSignedIn()
    if learner.access == "denied":
        raise Forbidden("Your membership does not give access to the learning portal.", code="access_denied")
    return learner


def _render(error: str | None = None, status: int = 200) -> Response:
    learner = _learner()
    with database().read() as db_session:
        enrollments = service.list_enrollments(db_session, g.tenant.id, learner.member_id, limit=1000)
    html = render_template(
        "learning_home.html",
        learner=learner,
        enrollments=enrollments,
        open_statuses=OPEN_STATUSES,
        can_change=learner.access == "full",
        csrf_token=csrf.csrf_token(CSRF_KEY, g.tenant.id),
        error=error,
        tenant_id=g.tenant.id,
        branding=tenant_settings(g.tenant).branding,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@learning_pages.get("")
def my_learning(tenant: str) -> Response:
    """The signed-in learner's enrollments, with their actions."""
    return _render()


def _act(enrollment_id: int, action: str, form: type[_Form] | None) -> Response:
    learner = _learner()
    if not csrf.csrf_valid(CSRF_KEY, g.tenant.id, request.form.get(csrf.FIELD)):
        return _render(error=csrf.REFUSED_MESSAGE, status=400)
    if learner.access != "full":
        raise Forbidden(
            "Your access is read-only: you can view your learning but not change it.", code="read_only"
        )
    try:
        values = form.model_validate(request.form.to_dict()).model_dump() if form else {}
    except ValidationError as exc:
        problem = exc.errors()[0]
        return _render(error=f"{problem['loc'][0]}: {problem['msg']}", status=422)
    lms_url = app_state().config.lms_url
    with database().session() as db_session:
        service.learner_enrollment(db_session, g.tenant.id, learner.member_id, enrollment_id)
        tenant = db_session.get(Tenant, g.tenant.id)
        assert tenant is not None
        if action == "start":
            service.start(db_session, tenant, enrollment_id, lms_url)
        elif action == "progress":
            service.record_progress(db_session, tenant, enrollment_id, values["percent"], lms_url)
        elif action == "complete":
            service.complete(db_session, tenant, enrollment_id, values["score"], lms_url)
        else:
            service.attend(db_session, tenant, enrollment_id, values["minutes"], lms_url)
    return redirect(f"/t/{g.tenant.id}/learning#enrollment-{enrollment_id}", 303)


@learning_pages.post("/enrollments/<int:enrollment_id>/start")
def start(tenant: str, enrollment_id: int) -> Response:
    return _act(enrollment_id, "start", None)


@learning_pages.post("/enrollments/<int:enrollment_id>/progress")
def progress(tenant: str, enrollment_id: int) -> Response:
    return _act(enrollment_id, "progress", ProgressForm)


@learning_pages.post("/enrollments/<int:enrollment_id>/complete")
def complete(tenant: str, enrollment_id: int) -> Response:
    return _act(enrollment_id, "complete", CompleteForm)


@learning_pages.post("/enrollments/<int:enrollment_id>/attend")
def attend(tenant: str, enrollment_id: int) -> Response:
    return _act(enrollment_id, "attend", AttendForm)
