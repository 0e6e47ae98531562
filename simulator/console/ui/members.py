"""Console pages: the member directory (search, filters, pages), one member (profile, orders, LMS
enrollments, CE transcript and a "sign in as this member" link into the LMS), and a tenant's LMS
enrollments.

Each page reads what an AMS or LMS API answers, through the same service functions: on the AMS
``GET /t/{t}/api/members`` (:func:`simulator.ams.service.list_members`), ``…/members/{id}``,
``…/orders?member_id=&newest_first=true`` and ``…/members/{id}/transcript``; on the LMS
``GET /t/{t}/api/enrollments`` (:func:`simulator.lms.learning.service.list_enrollments`) and
``…/courses``. Pages move with the APIs' own cursors; "previous" links carry the cursors of the pages
before (``back``), since a keyset cursor only points forwards.
"""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

from flask import render_template, request, url_for

from simulator.ams import service as members_service
from simulator.ams.commerce.orders import list_orders
from simulator.ams.schemas import MemberQuery, MemberStatus, MemberType
from simulator.ams.writeback.transcript import transcript
from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import sandbox_error_fields, validate_form
from simulator.console.ui.orders import moment, money
from simulator.core.errors import SandboxError
from simulator.core.web import app_state, database
from simulator.lms.learning import service as learning
from simulator.lms.learning.models import ENROLLMENT_STATUSES
from simulator.lms.learning.views import EnrollmentQuery
from simulator.seed import PERSONA_PASSWORD, PERSONAS

MEMBERS_PER_PAGE = 25
ENROLLMENTS_PER_PAGE = 50
MEMBER_PAGE_ORDERS = 100
MEMBER_PAGE_ENROLLMENTS = 1000
PERSONA_EMAILS = frozenset(persona.email for persona in PERSONAS)


def _form(names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in names}


def _pager(
    endpoint: str, tenant_id: str, filters: dict[str, str], position: str, next_position: Any
) -> dict[str, Any]:
    """Previous/next links of a forward-only listing: ``position`` names the query parameter holding
    the API's cursor (``cursor``, ``since``); the cursors of earlier pages travel in ``back``."""
    current = request.args.get(position, "")
    back = request.args.getlist("back")
    kept = {name: value for name, value in filters.items() if value}
    previous = None
    if back:
        earlier = {position: back[-1]} if back[-1] else {}
        previous = url_for(endpoint, tenant=tenant_id, **kept, **earlier, back=back[:-1])
    following = None
    if next_position is not None:
        following = url_for(
            endpoint, tenant=tenant_id, **kept, **{position: next_position}, back=[*back, current]
        )
    return {"number": len(back) + 1, "previous": previous, "next": following}


@ui.get("/tenants/<tenant>/members", endpoint="members")
@signed_in
def members_page(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    form = _form(("q", "status", "member_type"))
    cursor = request.args.get("cursor", "")
    query, errors = validate_form(MemberQuery, {**form, "cursor": cursor, "limit": MEMBERS_PER_PAGE})
    listing: dict[str, Any] = {"members": [], "next_cursor": None, "total": 0}
    if query is not None:
        try:
            with database().read() as session:
                listing = members_service.list_members(session, tenant, query)
        except SandboxError as error:
            errors = sandbox_error_fields(error)
    return render_template(
        "ui/members.html",
        title=f"Members of {tenant}",
        tenant=tenant_row,
        form=form,
        errors=errors,
        listing=listing,
        pages=_pager("ui.members", tenant, form, "cursor", listing["next_cursor"]),
        statuses=get_args(MemberStatus),
        member_types=get_args(MemberType),
    ), (422 if errors else 200)


def lms_sign_in_url(tenant_id: str) -> str:
    """The LMS's own sign-in start for the tenant: it sends the browser to the AMS (SAML, OIDC or token
    hand-off, as the tenant's ``sso.protocol`` says) and lands on the learner's page afterwards."""
    landing = f"/t/{tenant_id}/learning"
    return f"{app_state().config.lms_url}/t/{tenant_id}/login?{urlencode({'return_to': landing})}"


@ui.get("/tenants/<tenant>/members/<member_id>", endpoint="member")
@signed_in
def member_page(tenant: str, member_id: str) -> Any:
    tenant_row = page_tenant(tenant)
    with database().read() as session:
        member = members_service.get_member(session, tenant, member_id)
        orders = list_orders(session, tenant, member_id, MEMBER_PAGE_ORDERS, newest_first=True)
        enrollments = learning.list_enrollments(session, tenant, member_id, limit=MEMBER_PAGE_ENROLLMENTS)
        ce_records = transcript(session, tenant, member_id)
    config = app_state().config
    return render_template(
        "ui/members_detail.html",
        title=f"Member {member_id}",
        tenant=tenant_row,
        member=member,
        orders=orders,
        enrollments=enrollments,
        transcript=ce_records,
        money=money,
        moment=moment,
        sign_in_url=lms_sign_in_url(tenant),
        ams_sign_out_url=f"{config.ams_url}/t/{tenant}/logout",
        persona_password=PERSONA_PASSWORD if member["email"] in PERSONA_EMAILS else None,
        demo_password=PERSONA_PASSWORD,
    )


@ui.get("/tenants/<tenant>/enrollments", endpoint="enrollments")
@signed_in
def enrollments_page(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    form = _form(("status", "course_code", "member_id"))
    since = request.args.get("since", "")
    query, errors = validate_form(EnrollmentQuery, {**form, "since": since, "limit": ENROLLMENTS_PER_PAGE})
    enrollments: list[dict[str, Any]] = []
    with database().read() as session:
        courses = learning.list_courses(session, tenant)
        if query is not None:
            enrollments = learning.list_enrollments(
                session,
                tenant,
                query.member_id,
                query.course_code,
                query.limit,
                status=query.status,
                since=query.since,
            )
    next_since = enrollments[-1]["id"] if query is not None and len(enrollments) == query.limit else None
    return render_template(
        "ui/enrollments.html",
        title=f"Enrollments of {tenant}",
        tenant=tenant_row,
        form=form,
        errors=errors,
        enrollments=enrollments,
        course_options=[(course["code"], f"{course['title']} ({course['code']})") for course in courses],
        statuses=ENROLLMENT_STATUSES,
        moment=moment,
        pages=_pager("ui.enrollments", tenant, form, "since", next_since),
    ), (422 if errors else 200)
