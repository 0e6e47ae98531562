"""What a new (or reset) tenant needs for SAML sign-in: the sandbox's LMS registered as an SP at its AMS.

The sandbox plays the administrator who configures both sides (as it does for the token service and the
writeback secrets): the LMS's SP metadata — built by the LMS's own metadata builder, entityID
``{lms_url}/t/{t}/saml/metadata``, its ACS, SLO and certificate — is registered at the tenant's AMS IdP
with the defaults of ``POST /api/tenants/{t}/saml/service-providers`` (response and assertion signed, no
encryption, every attribute released). A reset registers it again (replacing it by entityID), so it
comes back with those defaults even if it was changed or deleted.

The OIDC side needs nothing here: the LMS registers itself as a client at the AMS (RFC 7591) on its
first OIDC sign-in.

The LMS's SP key is made (once; it survives a reset) in a transaction of its own, so this runs right
after the tenant's own transaction has committed.

Example::

    register_lms_service_provider(db, config, "acme")["entity_id"]
    # 'http://127.0.0.1:8002/t/acme/saml/metadata'
"""

from __future__ import annotations

from typing import Any

from simulator.ams.idp.registry import register_service_provider
from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.lms.sso.saml.sp import service_provider_metadata


def register_lms_service_provider(db: Database, config: SandboxConfig, tenant_id: str) -> dict[str, Any]:
    """Register (or replace) the tenant's own LMS as a SAML SP at its AMS; returns the registration."""
    metadata_xml = service_provider_metadata(db, config, tenant_id)
    with db.session() as session:
        return register_service_provider(session, tenant_id, metadata_xml)
