"""``POST /t/{tenant}/commerce/webhooks``: purchase webhooks from the AMS (Standard Webhooks signature)."""

from __future__ import annotations

from typing import Any, Literal

from flask import request
from flask_openapi3 import Tag
from pydantic import BaseModel, Field

from simulator.core.models import Tenant
from simulator.core.web import Problem, TenantPath, current_tenant, database, tenant_blueprint
from simulator.lms.commerce.service import receive_purchase_webhook

purchases_tag = Tag(name="purchases", description="Purchase webhooks from the AMS become enrollments")
purchases_api = tenant_blueprint("purchases", __name__, [purchases_tag], prefix="/commerce")


class MemberChanges(BaseModel):
    enrolled: list[str] = Field(..., description="Course codes granted by this webhook.")
    revoked: list[str] = Field(..., description="Course codes taken away by this webhook.")
    stale: bool = Field(..., description="The set was older than one already applied: nothing changed.")


class PurchaseWebhookResult(BaseModel):
    webhook_id: str
    result: Literal["applied", "duplicate"] = Field(
        ..., description="`duplicate`: this webhook-id was applied before; nothing changed."
    )
    changes: dict[str, MemberChanges] | None = Field(None, description="Per member id (only when `applied`).")


@purchases_api.post(
    "/webhooks", responses={200: PurchaseWebhookResult, 400: Problem, 401: Problem, 404: Problem}
)
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
