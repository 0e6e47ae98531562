"""``POST /t/{tenant}/commerce/webhooks``: purchase webhooks from the AMS (Standard Webhooks signature)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_openapi3 import Tag

from simulator.core.models import Tenant
from simulator.core.web import Problem, TenantPath, current_tenant, database, tenant_blueprint
from simulator.lms.commerce.service import receive_purchase_webhook

purchases_tag = Tag(name="purchases", description="Purchase webhooks from the AMS become enrollments")
purchases_api = tenant_blueprint("purchases", __name__, [purchases_tag], prefix="/commerce")


@purchases_api.post("/webhooks", responses={200: None, 400: Problem, 401: Problem})
def purchase_webhook(path: TenantPath) -> dict[str, Any]:
    """Apply `order.paid`, `order.invoiced`, `order.refunded`, `order.cancelled` or `seat.assigned`.

    The body carries each affected member's complete entitlement set; enrollments are created or revoked
    to match. A `webhook-id` seen before answers `duplicate` and changes nothing.
    """
    body = request.get_data()
    with database().session() as session:
        tenant = session.get(Tenant, current_tenant().id)
        assert tenant is not None
        return receive_purchase_webhook(session, tenant, request.headers, body)
