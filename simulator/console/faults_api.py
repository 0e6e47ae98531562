"""Control API for fault rules: ``/api/tenants/{t}/faults`` (views only translate HTTP)."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.core import faults
from simulator.core.faults import MAX_RULES, FaultRuleSpec
from simulator.core.web import (
    Problem,
    TenantPath,
    authorized_tenant_id,
    created,
    database,
    no_content,
)

faults_tag = Tag(
    name="faults",
    description="Per-tenant fault rules for AMS and LMS requests (the first matching rule that fires wins)",
)

faults_api = APIBlueprint(
    "faults",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
)


class FaultRulePath(TenantPath):
    rule_id: int = Field(..., ge=1, le=2**63 - 1, description="Id of the fault rule.")


class FaultRuleList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRuleSpec] = Field(..., max_length=MAX_RULES, description="Rules in evaluation order.")


class FaultRuleOut(BaseModel):
    id: int
    position: int
    rule: FaultRuleSpec
    matched_count: int = Field(..., description="Requests that matched the rule so far.")
    fired_count: int = Field(..., description="Requests the rule actually faulted so far.")
    created_at: str


class FaultRulesOut(BaseModel):
    rules: list[FaultRuleOut]


@faults_api.get("/tenants/<tenant>/faults", tags=[faults_tag], responses={200: FaultRulesOut})
def list_faults(path: TenantPath) -> dict[str, Any]:
    """The tenant's fault rules in evaluation order, with how often each matched and fired."""
    return {"rules": faults.list_rules(database(), authorized_tenant_id(path.tenant))}


@faults_api.put("/tenants/<tenant>/faults", tags=[faults_tag], responses={200: FaultRulesOut, 422: Problem})
def replace_faults(path: TenantPath, body: FaultRuleList) -> dict[str, Any]:
    """Replace the whole rule list (counters start at zero); an invalid rule changes nothing."""
    tenant_id = authorized_tenant_id(path.tenant)
    return {"rules": faults.replace_rules(database(), tenant_id, body.rules)}


@faults_api.post(
    "/tenants/<tenant>/faults", tags=[faults_tag], responses={201: FaultRuleOut, 409: Problem, 422: Problem}
)
def append_fault(path: TenantPath, body: FaultRuleSpec) -> tuple[Any, int, dict[str, str]]:
    """Add one rule after the existing ones (409 when the tenant already has the most rules allowed)."""
    tenant_id = authorized_tenant_id(path.tenant)
    rule = faults.append_rule(database(), tenant_id, body)
    return created(rule, f"/api/tenants/{tenant_id}/faults/{rule['id']}")


@faults_api.delete("/tenants/<tenant>/faults", tags=[faults_tag], responses={204: None})
def clear_faults(path: TenantPath) -> Any:
    """Remove every fault rule of the tenant."""
    faults.clear_rules(database(), authorized_tenant_id(path.tenant))
    return no_content()


@faults_api.delete("/tenants/<tenant>/faults/<int:rule_id>", tags=[faults_tag], responses={204: None})
def delete_fault(path: FaultRulePath) -> Any:
    """Remove one fault rule."""
    faults.delete_rule(database(), authorized_tenant_id(path.tenant), path.rule_id)
    return no_content()
