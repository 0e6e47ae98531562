"""Who may read a member's entitlements: the tenant's key, the admin key, or the LMS's own credential.

The LMS credential is issued when the tenant is seeded (like the writeback secret): the AMS keeps its
SHA-256 digest, the LMS keeps the key. It opens only ``GET …/members/{id}/entitlements`` of its tenant.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.commerce.models import LmsCredential
from simulator.core.clock import wall_now
from simulator.core.errors import Unauthorized
from simulator.core.security import digest_key, new_api_key
from simulator.core.tenancy import authenticate, authorize_tenant, bearer_key


def issue_lms_credential(session: Session, tenant_id: str) -> str:
    """A new key for the tenant's LMS (returned once; only its digest is kept)."""
    key = new_api_key(f"{tenant_id}_lms")
    session.add(LmsCredential(tenant_id=tenant_id, key_digest=digest_key(key), created_at=wall_now()))
    return key


def authorize_entitlements_reader(
    session: Session, tenant_id: str, authorization: str | None, admin_key: str
) -> None:
    """Pass when ``authorization`` holds the LMS credential of ``tenant_id``, its key or the admin key."""
    key = bearer_key(authorization)
    if key is not None:
        holder = session.scalar(
            select(LmsCredential.tenant_id).where(LmsCredential.key_digest == digest_key(key))
        )
        if holder == tenant_id:
            return
        if holder is not None:
            raise Unauthorized("The API key is not valid.")
    authorize_tenant(session, authenticate(session, authorization, admin_key), tenant_id)
