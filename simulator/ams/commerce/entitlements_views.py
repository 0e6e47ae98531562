"""``GET /t/{tenant}/api/members/{id}/entitlements``: what the LMS pulls at sign-on (``next_sign_on``).

Opened by the tenant's key, the admin key, or the LMS credential issued at seeding.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_openapi3 import Tag

from simulator.ams.commerce.entitlements import entitlements_json
from simulator.ams.commerce.lms_access import authorize_entitlements_reader
from simulator.ams.commerce.responses import Entitlements
from simulator.ams.commerce.schemas import CartPath
from simulator.ams.service import find_member
from simulator.core.web import Problem, app_state, checked_key, current_tenant, database, tenant_blueprint

entitlements_tag = Tag(name="entitlements", description="LMS courses a member's purchases entitle them to")
entitlements_api = tenant_blueprint("entitlements", __name__, [entitlements_tag], prefix="/api")


@entitlements_api.get(
    "/members/<member_id>/entitlements",
    responses={200: Entitlements, 401: Problem, 404: Problem},
    security=[{"bearer": []}],
)
def member_entitlements(path: CartPath) -> dict[str, Any]:
    """Course codes the member is entitled to, each with the order (or seat) it comes from."""
    tenant = current_tenant()
    with database().read() as session:
        checked_key(
            lambda: authorize_entitlements_reader(
                session, tenant.id, request.headers.get("Authorization"), app_state().admin_key
            )
        )
        find_member(session, tenant.id, path.member_id)
        return entitlements_json(session, tenant, path.member_id)
