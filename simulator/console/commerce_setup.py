"""What a new (or reset) tenant needs for eCommerce: the AMS demo catalog, and the AMS ↔ LMS purchase link.

The sandbox plays the administrator who configures both sides, as for writeback: the AMS's
``lms-purchases`` outbox endpoint (``{lms_url}/t/{t}/commerce/webhooks``) signs with a fresh ``whsec_``
secret the LMS trusts (the ``lms-catalog`` endpoint, ``{lms_url}/t/{t}/catalog/webhooks``, and the
AMS's signed catalog import use the same secret, see :mod:`simulator.ams.commerce.catalog_owner`), and the
LMS gets its own credential for ``GET …/entitlements`` on the AMS. A reset
throws all of it away and this builds it again (new secret, new credential).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from simulator.ams.commerce.catalog_owner import CATALOG_ENDPOINT, PUBLISH_TOPIC, catalog_webhook_url
from simulator.ams.commerce.entitlements import PURCHASE_ENDPOINT, PURCHASE_TOPICS
from simulator.ams.commerce.lms_access import issue_lms_credential
from simulator.ams.commerce.seed import seed_products
from simulator.config import SandboxConfig
from simulator.core.outbox import add_endpoint
from simulator.core.webhooks import new_secret
from simulator.lms.commerce.service import save_link
from simulator.lms.learning.catalog import CATALOG


def purchase_webhook_url(config: SandboxConfig, tenant_id: str) -> str:
    return f"{config.lms_url}/t/{tenant_id}/commerce/webhooks"


def seed_commerce(session: Session, tenant_id: str, config: SandboxConfig) -> None:
    """Seed the AMS catalog from the LMS courses and connect the two apps for purchase sync."""
    seed_products(session, tenant_id, CATALOG)
    secret = new_secret()
    add_endpoint(
        session,
        tenant_id,
        PURCHASE_ENDPOINT,
        purchase_webhook_url(config, tenant_id),
        purpose="subscriber",
        secret=secret,
        topics=list(PURCHASE_TOPICS),
    )
    add_endpoint(
        session,
        tenant_id,
        CATALOG_ENDPOINT,
        catalog_webhook_url(config.lms_url, tenant_id),
        purpose="subscriber",
        secret=secret,
        topics=[PUBLISH_TOPIC],
    )
    save_link(session, tenant_id, config.ams_url, issue_lms_credential(session, tenant_id), secret)
