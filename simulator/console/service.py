"""Control-plane services: tenant lifecycle with its seeded state (no Flask here).

Creating, resetting and reseeding a tenant build its world in one transaction, then register the
tenant's own LMS as a SAML SP at its AMS (:mod:`simulator.console.saml_setup`, a transaction of its own).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

import simulator.jobs
import simulator.models  # noqa: F401 - reset and delete see every tenant-owned table
from simulator.ams.idp.keys import create_initial_key
from simulator.config import SandboxConfig
from simulator.console.commerce_setup import seed_commerce
from simulator.console.saml_setup import register_lms_service_provider
from simulator.console.token_setup import seed_token_handoff
from simulator.console.writeback_setup import seed_writeback
from simulator.core import tenancy
from simulator.core.db import Database
from simulator.core.jobs import ensure_recurring_jobs
from simulator.core.models import Tenant
from simulator.seed import SeedSummary
from simulator.seed import seed_tenant as seed_people

DEMO_TENANT = "demo"
DEMO_SEED = 42
DEMO_MEMBERS = 200


def seed_tenant(session: Session, tenant: Tenant, config: SandboxConfig) -> SeedSummary:
    """Build the tenant's world from its seeded state: people, then its recurring jobs."""
    summary = seed_people(session, tenant.id, seed=tenant.seed, members=tenant.seed_members, config=config)
    seed_writeback(session, tenant.id, config)
    seed_commerce(session, tenant.id, config)
    ensure_recurring_jobs(session, tenant)
    create_initial_key(session, tenant.id)
    seed_token_handoff(session, tenant, config)
    return summary


def tenant_summary(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "seed": tenant.seed,
        "seed_members": tenant.seed_members,
        "created_at": tenant.created_at.isoformat(),
    }


def create_seeded_tenant(
    db: Database,
    config: SandboxConfig,
    tenant_id: str,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    members: int = 0,
    clock_start: dt.datetime | None = None,
) -> tuple[dict[str, Any], str, SeedSummary]:
    """Create a tenant and seed it, in one transaction; returns (summary, api key, what was seeded).

    With ``clock_start`` the tenant's business clock is frozen at that moment before anything is seeded,
    so the same seed gives the same membership dates on any day (scenario runs rely on it).
    """
    with db.session() as session:
        tenant, api_key = tenancy.create_tenant(session, tenant_id, name, settings, seed, members)
        if clock_start is not None:
            tenant.clock_frozen_at = clock_start.astimezone(dt.UTC)
        summary, seeded = tenant_summary(tenant), seed_tenant(session, tenant, config)
    register_lms_service_provider(db, config, tenant_id)
    return summary, api_key, seeded


def reseed_tenant(
    db: Database, config: SandboxConfig, tenant_id: str, seed: int, members: int
) -> SeedSummary:
    """Make ``(seed, members)`` the tenant's seeded state and rebuild its data from it."""
    with db.session() as session:
        tenant = tenancy.get_tenant(session, tenant_id)
        tenant.seed, tenant.seed_members = seed, members
        tenancy.clear_tenant_data(session, tenant_id)
        seeded = seed_tenant(session, tenant, config)
    register_lms_service_provider(db, config, tenant_id)
    return seeded


def reset_tenant(db: Database, config: SandboxConfig, tenant_id: str) -> SeedSummary:
    """Throw the tenant's world away and build it again from its seeded state."""
    with db.session() as session:
        tenant = tenancy.get_tenant(session, tenant_id)
        tenancy.clear_tenant_data(session, tenant_id)
        seeded = seed_tenant(session, tenant, config)
    register_lms_service_provider(db, config, tenant_id)
    return seeded


def ensure_demo_tenant(db: Database, config: SandboxConfig) -> str | None:
    """Create the seeded ``demo`` tenant if it is missing; returns its new API key, or None if it existed."""
    with db.read() as session:
        if session.get(Tenant, DEMO_TENANT) is not None:
            return None
    _, api_key, _ = create_seeded_tenant(
        db, config, DEMO_TENANT, "Demo Professional Association", seed=DEMO_SEED, members=DEMO_MEMBERS
    )
    return api_key
