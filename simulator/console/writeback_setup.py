"""What a new (or reset) tenant needs for writeback: the LMS catalog, and the signed channel LMS → AMS.

The sandbox plays the administrator who configures both sides: one fresh ``whsec_`` secret, trusted by
the AMS inbox and used by the LMS's ``ams-writeback`` outbox endpoint (``{ams_url}/t/{t}/writeback/records``).
A reset throws both away and this builds them again (with a new secret).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from simulator.ams.writeback.inbox import add_inbox_secret
from simulator.config import SandboxConfig
from simulator.core.outbox import WRITEBACK_ENDPOINT, add_endpoint
from simulator.core.webhooks import new_secret
from simulator.lms.learning.catalog import seed_catalog


def inbox_url(config: SandboxConfig, tenant_id: str) -> str:
    return f"{config.ams_url}/t/{tenant_id}/writeback/records"


def seed_writeback(session: Session, tenant_id: str, config: SandboxConfig) -> None:
    """Seed the LMS catalog and connect the LMS's writeback endpoint to the AMS inbox."""
    seed_catalog(session, tenant_id)
    secret = new_secret()
    add_inbox_secret(session, tenant_id, secret)
    add_endpoint(
        session,
        tenant_id,
        WRITEBACK_ENDPOINT,
        inbox_url(config, tenant_id),
        purpose="writeback",
        secret=secret,
    )
