"""AMS HTTP views: the member directory API (``/t/{tenant}/api/...``; tenant or admin key).

Views only translate HTTP: they parse with the pydantic documents of :mod:`simulator.ams.schemas`, call
:mod:`simulator.ams.service` in one transaction and return its documents. Errors are raised, never built.
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import Tag

from simulator.ams import service
from simulator.ams.schemas import (
    MemberCreate,
    MemberList,
    MemberOut,
    MemberPath,
    MemberQuery,
    MemberUpdate,
    OrganisationList,
    OrganisationQuery,
)
from simulator.core.web import (
    Problem,
    TenantPath,
    app_state,
    created,
    current_tenant,
    database,
    no_content,
    tenant_blueprint,
)

members_tag = Tag(name="members", description="Member directory")
members_api = tenant_blueprint("members", __name__, [members_tag], prefix="/api", secured=True)

READ_ERRORS: dict[Any, Any] = {401: Problem, 404: Problem}
WRITE_ERRORS: dict[Any, Any] = {**READ_ERRORS, 409: Problem}


def _iterations() -> int:
    return app_state().config.password_hash_iterations


@members_api.get("/members", responses={200: MemberList, **READ_ERRORS})
def list_members(path: TenantPath, query: MemberQuery) -> dict[str, Any]:
    """Members matching the filters, oldest record first; follow `next_cursor` for the next page."""
    with database().read() as session:
        return service.list_members(session, current_tenant().id, query)


@members_api.get("/members/<member_id>", responses={200: MemberOut, **READ_ERRORS})
def get_member(path: MemberPath) -> dict[str, Any]:
    """One member (`member_not_found` when this tenant has no such member)."""
    with database().read() as session:
        return service.get_member(session, current_tenant().id, path.member_id)


@members_api.post("/members", responses={201: MemberOut, **WRITE_ERRORS})
def create_member(path: TenantPath, body: MemberCreate) -> tuple[Any, int, dict[str, str]]:
    """Add a person. Emails are unique per tenant (`email_taken`); the member id defaults to the next one."""
    tenant_id = current_tenant().id
    with database().session() as session:
        member = service.create_member(session, tenant_id, body, _iterations())
    return created(member, f"/t/{tenant_id}/api/members/{member['member_id']}")


@members_api.patch("/members/<member_id>", responses={200: MemberOut, **WRITE_ERRORS})
def update_member(path: MemberPath, body: MemberUpdate) -> dict[str, Any]:
    """Change some fields; the result must still be a valid record, else nothing changes."""
    with database().session() as session:
        return service.update_member(session, current_tenant().id, path.member_id, body, _iterations())


@members_api.post("/members/<member_id>/deactivate", responses={200: MemberOut, **READ_ERRORS})
def deactivate_member(path: MemberPath) -> dict[str, Any]:
    """Set the membership `inactive` and stamp `deactivated_at` on the tenant's business clock."""
    with database().session() as session:
        return service.deactivate_member(session, current_tenant().id, path.member_id)


@members_api.delete("/members/<member_id>", responses={204: None, **READ_ERRORS, 409: Problem})
def delete_member(path: MemberPath) -> Any:
    """Erase a person who has no records yet, with their cart and sign-on state (a person with orders,
    payments or transcript entries is refused with `member_has_records`: deactivate them instead)."""
    with database().session() as session:
        service.delete_member(session, current_tenant().id, path.member_id)
    return no_content()


@members_api.get("/organisations", responses={200: OrganisationList, **READ_ERRORS})
def list_organisations(path: TenantPath, query: OrganisationQuery) -> dict[str, Any]:
    """Organisations (employers, for bulk orders), each with its number of people."""
    with database().read() as session:
        return service.list_organisations(session, current_tenant().id, query)
