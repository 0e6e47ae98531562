"""A tenant at a glance: every URL a connector needs, and counts of what its world holds.

This is the control API's ``GET /api/tenants/{t}/overview`` and the console dashboard; both read it
from here. The webhook signing secret itself is never shown: only the SHA-256 fingerprint of each
secret the AMS inbox trusts, so an integrator can tell which secret their receiver holds.

Example::

    overview = tenant_overview(db, config, "demo")
    overview["urls"]["saml_idp_metadata"]  # 'http://127.0.0.1:8001/t/demo/saml/metadata'
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from simulator.ams.commerce.models import Order
from simulator.ams.models import Member
from simulator.ams.writeback.models import InboxSecret
from simulator.ams.writeback.transcript import inbox_counts
from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.core.outbox_models import OutboxMessage
from simulator.lms.learning.models import Enrollment


def connector_urls(config: SandboxConfig, tenant_id: str) -> dict[str, str]:
    """The URLs an integrator points a connector at, by name."""
    ams = f"{config.ams_url}/t/{tenant_id}"
    lms = f"{config.lms_url}/t/{tenant_id}"
    return {
        "saml_idp_metadata": f"{ams}/saml/metadata",
        "saml_sso": f"{ams}/saml/sso",
        "saml_slo": f"{ams}/saml/slo",
        "oidc_discovery": f"{ams}/.well-known/openid-configuration",
        "oidc_registration": f"{ams}/oidc/register",
        "lms_sp_metadata": f"{lms}/saml/metadata",
        "lms_acs": f"{lms}/saml/acs",
        "lms_oidc_redirect_uri": f"{lms}/oidc/callback",
        "lms_login": f"{lms}/login",
        "token_launch": f"{ams}/sso/token/launch",
        "token_authorize": f"{ams}/sso/token/authorize",
        "token_validate": f"{ams}/sso/token/validate",
        "lms_token_landing": f"{lms}/sso/token/landing",
        "writeback_inbox": f"{ams}/writeback/records",
        "ams_api": f"{ams}/api/",
        "lms_api": f"{lms}/api/",
        "store": f"{ams}/store",
    }


def secret_fingerprint(secret: str) -> str:
    """``sha256:`` and the first 16 hex digits of the secret's SHA-256: names a secret without showing it."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def tenant_overview(db: Database, config: SandboxConfig, tenant_id: str) -> dict[str, Any]:
    """URLs, inbox secret fingerprints and counts for one (existing, authorised) tenant."""
    with db.read() as session:

        def grouped(column: Any, model: Any) -> dict[str, int]:
            rows = session.execute(
                select(column, func.count()).where(model.tenant_id == tenant_id).group_by(column)
            ).all()
            return {str(key) if key is not None else "none": count for key, count in rows}

        def total(model: Any) -> int:
            return (
                session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
                or 0
            )

        secrets = session.scalars(
            select(InboxSecret.secret).where(InboxSecret.tenant_id == tenant_id).order_by(InboxSecret.id)
        ).all()
        enrollments = grouped(Enrollment.status, Enrollment)
        return {
            "tenant": tenant_id,
            "urls": connector_urls(config, tenant_id),
            "inbox_secret_fingerprints": [secret_fingerprint(secret) for secret in secrets],
            "counts": {
                "members_by_status": grouped(Member.status, Member),
                "members": total(Member),
                "orders_by_status": grouped(Order.status, Order),
                "orders": total(Order),
                "enrollments_by_status": enrollments,
                "enrollments": sum(enrollments.values()),
                "completions": session.scalar(
                    select(func.count())
                    .select_from(Enrollment)
                    .where(Enrollment.tenant_id == tenant_id, Enrollment.completed_at.is_not(None))
                )
                or 0,
                "outbox_by_state": grouped(OutboxMessage.state, OutboxMessage),
                "inbox_by_result": inbox_counts(session, tenant_id),
            },
        }
