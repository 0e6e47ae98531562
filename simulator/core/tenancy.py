"""Tenants: isolated sandbox worlds, and the one place that resolves and enforces them.

Every AMS and LMS URL starts with ``/t/{tenant}``; every tenant-owned row carries ``tenant_id``. Control
calls carry ``Authorization: Bearer KEY``: the admin key opens every tenant, a tenant's key opens only
that tenant (any other tenant answers 404, as if it did not exist, so keys cannot probe for names).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, select
from sqlalchemy.orm import Session

from simulator.core.caching import BoundedCache
from simulator.core.clock import wall_now
from simulator.core.db import Base, Database
from simulator.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from simulator.core.models import FaultRule, Tenant
from simulator.core.prepared import Prepared
from simulator.core.secrets_at_rest import reveal_secret_members
from simulator.core.security import digest_key, keys_equal, new_api_key
from simulator.core.settings import TenantSettings, branded, merge_patch, validate_settings

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_TENANT_IDS = frozenset({"api", "admin", "static", "docs", "healthz", "openapi"})
PARSED_SETTINGS_ATTRIBUTE = "_sandbox_parsed_settings"
PARSED_DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, or the holder of one tenant's key."""

    is_admin: bool
    tenant_id: str | None = None

    def may_access(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


def tenant_not_found(tenant_id: str) -> NotFound:
    return NotFound(f"There is no tenant '{tenant_id}'.", code="tenant_not_found")


def validate_tenant_id(tenant_id: str) -> None:
    if not TENANT_ID_PATTERN.match(tenant_id) or tenant_id in RESERVED_TENANT_IDS:
        raise ValidationFailed(
            f"'{tenant_id}' is not a usable tenant id: use 1–63 lower-case letters, digits and dashes, "
            "starting with a letter or digit.",
            errors=[{"field": "id", "message": "must match ^[a-z0-9][a-z0-9-]{0,62}$ and not be reserved"}],
        )


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id) if TENANT_ID_PATTERN.match(tenant_id) else None
    if tenant is None:
        raise tenant_not_found(tenant_id)
    return tenant


def tenant_settings(tenant: Tenant) -> TenantSettings:
    """The tenant's validated settings (parsed once per request for a :func:`load_tenant` snapshot)."""
    parsed = getattr(tenant, PARSED_SETTINGS_ATTRIBUTE, None)
    if parsed is not None and parsed[0] is tenant.settings:
        return parsed[1]
    return TenantSettings.model_validate(tenant.settings)


@dataclass(frozen=True)
class TenantSnapshot:
    """A tenant as one request sees it: a detached, read-only row, its parsed settings and how many
    fault rules it has (so that a tenant without rules costs no fault-rule query)."""

    tenant: Tenant
    settings: TenantSettings
    fault_rule_count: int


_tenants = Tenant.__table__.c
_SNAPSHOT_QUERY = Prepared(
    select(
        _tenants.id,
        _tenants.name,
        _tenants.api_key_hash,
        cast(_tenants.settings, Text),
        cast(_tenants.initial_settings, Text),
        _tenants.seed,
        _tenants.seed_members,
        _tenants.clock_offset_seconds,
        _tenants.clock_frozen_at,
        _tenants.created_at,
        select(func.count())
        .select_from(FaultRule.__table__)
        .where(FaultRule.__table__.c.tenant_id == _tenants.id)
        .scalar_subquery(),
    ).where(_tenants.id == bindparam("tenant_id"))
)
"""Built once: building a statement costs more than running it."""

_settings_documents: BoundedCache[str, tuple[dict[str, Any], TenantSettings]] = BoundedCache(
    PARSED_DOCUMENT_CACHE_SIZE
)
_plain_documents: BoundedCache[str, dict[str, Any]] = BoundedCache(PARSED_DOCUMENT_CACHE_SIZE)


def _settings_document(text: str) -> tuple[dict[str, Any], TenantSettings]:
    """A stored settings document (JSON text) as a dict (its secrets decrypted) and validated; cached by
    the text itself.

    A changed document is a new key, parsed on first sight: nothing stale can be served. Callers only
    read the dict and the settings.
    """
    cached = _settings_documents.get(text)
    if cached is None:
        document = reveal_secret_members(json.loads(text))
        cached = (document, TenantSettings.model_validate(document))
        _settings_documents.put(text, cached)
    return cached


def _plain_document(text: str) -> dict[str, Any]:
    cached = _plain_documents.get(text)
    if cached is None:
        cached = reveal_secret_members(json.loads(text))
        _plain_documents.put(text, cached)
    return cached


def load_tenant(db: Database, tenant_id: str) -> TenantSnapshot | None:
    """The tenant as it is now (one indexed query), or ``None`` when there is no such tenant.

    The hot path of every AMS and LMS request: the row is read every time (a settings change is seen
    by the very next request), only its parsing is cached.
    """
    if not TENANT_ID_PATTERN.match(tenant_id):
        return None
    row = db.first(_SNAPSHOT_QUERY, {"tenant_id": tenant_id})
    if row is None:
        return None
    document, settings = _settings_document(row[3])
    tenant = Tenant(
        id=row[0],
        name=row[1],
        api_key_hash=row[2],
        settings=document,
        initial_settings=_plain_document(row[4]),
        seed=row[5],
        seed_members=row[6],
        clock_offset_seconds=row[7],
        clock_frozen_at=row[8],
        created_at=row[9],
    )
    setattr(tenant, PARSED_SETTINGS_ATTRIBUTE, (document, settings))
    return TenantSnapshot(tenant=tenant, settings=settings, fault_rule_count=row[10])


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.id)))


def create_tenant(
    session: Session,
    tenant_id: str,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    seed_members: int = 0,
) -> tuple[Tenant, str]:
    """Create a tenant; returns it with its API key (shown once, stored only as a digest).

    Its pages carry its own name (``name``, else its id) unless ``settings`` brand it otherwise.
    """
    validate_tenant_id(tenant_id)
    name = name or tenant_id
    document = validate_settings(branded(settings or {}, name)).model_dump(mode="json")
    if session.get(Tenant, tenant_id) is not None:
        raise Conflict(f"A tenant '{tenant_id}' already exists.", code="tenant_exists")
    api_key = new_api_key(tenant_id)
    tenant = Tenant(
        id=tenant_id,
        name=name,
        api_key_hash=digest_key(api_key),
        settings=document,
        initial_settings=document,
        seed=seed,
        seed_members=seed_members,
        clock_offset_seconds=0.0,
        clock_frozen_at=None,
        created_at=wall_now(),
    )
    session.add(tenant)
    session.flush()
    return tenant, api_key


def rotate_api_key(session: Session, tenant_id: str) -> str:
    tenant = get_tenant(session, tenant_id)
    api_key = new_api_key(tenant_id)
    tenant.api_key_hash = digest_key(api_key)
    return api_key


def revoke_api_key(session: Session, tenant_id: str) -> None:
    """Make the tenant's key stop working without issuing another (its digest becomes one of a key nobody
    holds); until a new key is issued, only the admin key opens the tenant."""
    tenant = get_tenant(session, tenant_id)
    tenant.api_key_hash = digest_key(new_api_key(tenant_id))


def tenant_owned_tables() -> list[Any]:
    """Every table with a ``tenant_id`` column, children before parents."""
    return [
        table
        for table in reversed(Base.metadata.sorted_tables)
        if "tenant_id" in table.c and not table.info.get("survives_reset")
    ]


def clear_tenant_data(session: Session, tenant_id: str) -> None:
    """Empty every tenant-owned table for ``tenant_id`` and put its clock and settings back.

    What survives: the tenant row itself (id, name, API key) and tables marked ``survives_reset``.
    """
    tenant = get_tenant(session, tenant_id)
    for table in tenant_owned_tables():
        session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    tenant.settings = tenant.initial_settings
    tenant.clock_offset_seconds = 0.0
    tenant.clock_frozen_at = None
    session.flush()


def delete_tenant(session: Session, tenant_id: str) -> None:
    tenant = get_tenant(session, tenant_id)
    for table in tenant_owned_tables():
        session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    session.delete(tenant)
    session.flush()


def update_settings(session: Session, tenant_id: str, patch: Any) -> TenantSettings:
    """Merge-patch a tenant's settings; the whole result is validated before it is stored.

    A patch that removes the branding's names (``null``) gives the tenant its own name back.
    """
    tenant = get_tenant(session, tenant_id)
    merged = merge_patch(tenant_settings(tenant).model_dump(mode="json"), patch)
    updated = validate_settings(branded(merged, tenant.name))
    tenant.settings = updated.model_dump(mode="json")
    return updated


def bearer_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, key = authorization.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def authenticate(session: Session, authorization: str | None, admin_key: str) -> Principal:
    """Who holds the key in ``authorization``; raises ``Unauthorized`` when nobody does."""
    key = bearer_key(authorization)
    if key is None:
        raise Unauthorized()
    if keys_equal(key, admin_key):
        return Principal(is_admin=True)
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.api_key_hash == digest_key(key)))
    if tenant_id is None:
        raise Unauthorized("The API key is not valid.")
    return Principal(is_admin=False, tenant_id=tenant_id)


def authorize_tenant(session: Session, principal: Principal, tenant_id: str) -> Tenant:
    """The tenant, if ``principal`` may act on it; a tenant it may not see is reported as missing."""
    if not principal.may_access(tenant_id):
        raise tenant_not_found(tenant_id)
    return get_tenant(session, tenant_id)
