"""What a new (or reset) tenant needs for token hand-off: the sandbox's LMS registered at its own AMS.

The sandbox plays the administrator who configures both sides (as it does for writeback secrets): it
registers the LMS as the token service ``Sandbox LMS`` at the AMS — landing and return URL
``{lms_url}/t/{t}/sso/token/landing`` — and stores the credential in the tenant settings
(``sso.token_service_id``, ``sso.token_service_secret``), where the LMS reads it. The LMS itself never
holds a control-plane key. A tenant whose initial settings name a credential of their own is left alone.
A reset builds the service again with a new secret (same service id).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from simulator.ams.idp.token.registry import ServiceCreate, register_service
from simulator.config import SandboxConfig
from simulator.core.models import Tenant
from simulator.core.tenancy import update_settings

SANDBOX_LMS_SERVICE = "Sandbox LMS"


def landing_url(config: SandboxConfig, tenant_id: str) -> str:
    return f"{config.lms_url}/t/{tenant_id}/sso/token/landing"


def seed_token_handoff(session: Session, tenant: Tenant, config: SandboxConfig) -> None:
    """Register the sandbox's LMS as a token service and give it the credential through the settings."""
    if (tenant.initial_settings.get("sso") or {}).get("token_service_id"):
        return
    url = landing_url(config, tenant.id)
    service = register_service(
        session,
        tenant.id,
        ServiceCreate(name=SANDBOX_LMS_SERVICE, landing_url=url, return_url_allowlist=[url]),
        replace=True,
    )
    update_settings(
        session,
        tenant.id,
        {
            "sso": {
                "token_service_id": service["service_id"],
                "token_service_secret": service["service_secret"],
            }
        },
    )
