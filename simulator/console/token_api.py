"""Control API for token hand-off SSO: the tenant's registered token services.

``/api/tenants/{t}/token-services…`` (views only translate HTTP). Registration answers the service
credential — ``service_id`` and ``service_secret`` — once; the secret is stored only as a digest.
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import Field

from simulator.ams.idp.token import registry
from simulator.core.web import Problem, TenantPath, authorized_tenant_id, created, database, no_content

token_services_tag = Tag(
    name="token services", description="Services allowed to receive token hand-off sign-ins from the AMS"
)

token_services_api = APIBlueprint(
    "token_services",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
    abp_tags=[token_services_tag],
)


class ServicePath(TenantPath):
    service_id: str = Field(..., max_length=200, description="The service's id (or its name).")


@token_services_api.post(
    "/tenants/<tenant>/token-services", responses={201: registry.ServiceOut, 409: Problem, 422: Problem}
)
def register_token_service(path: TenantPath, body: registry.ServiceCreate) -> Any:
    """Register a token service. The response carries its credential (the secret only this once)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        service = registry.register_service(session, tenant_id, body)
    return created(service, f"/api/tenants/{tenant_id}/token-services/{service['service_id']}")


@token_services_api.get("/tenants/<tenant>/token-services", responses={200: registry.ServiceList})
def list_token_services(path: TenantPath) -> dict[str, Any]:
    """The tenant's token services (never their secrets)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return {"services": registry.list_services(session, tenant_id)}


@token_services_api.get("/tenants/<tenant>/token-services/<service_id>", responses={200: registry.ServiceOut})
def get_token_service(path: ServicePath) -> dict[str, Any]:
    """One token service."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return registry.service_json(registry.get_service(session, tenant_id, path.service_id))


@token_services_api.delete("/tenants/<tenant>/token-services/<service_id>", responses={204: None})
def delete_token_service(path: ServicePath) -> Any:
    """Forget a token service: its tokens and credential stop working."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        registry.delete_service(session, tenant_id, path.service_id)
    return no_content()
