"""Purchases in the LMS: reconcile a member's enrollments to what the AMS says they are entitled to.

No Flask here. Both purchase-sync modes end in :func:`reconcile`:

- ``immediate``: the AMS sends signed webhooks (``order.paid``, ``order.refunded`` …) carrying each
  affected member's complete entitlement set; :func:`receive_purchase_webhook` verifies the Standard
  Webhooks signature, dedupes by ``webhook-id`` and reconciles;
- ``next_sign_on``: at each sign-on :func:`reconcile_at_sign_on` pulls
  ``GET {ams}/t/{t}/api/members/{id}/entitlements`` with the LMS's credential and reconciles.

Only enrollments a purchase created (``lms_purchase_grants``) are ever revoked; enrollments made another
way are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from simulator.core import json_text
from simulator.core.clock import tenant_now, wall_now
from simulator.core.db import Database, serialize_in_transaction
from simulator.core.errors import BadRequest, NotFound, SandboxError
from simulator.core.models import Tenant
from simulator.core.tls import client_verify
from simulator.core.webhooks import WebhookVerificationError, verify
from simulator.lms.commerce.models import AmsLink, PurchaseGrant, PurchaseSyncState, PurchaseWebhook
from simulator.lms.commerce.revoke import revoke_enrollment
from simulator.lms.learning.models import Course
from simulator.lms.learning.service import enroll

log = logging.getLogger(__name__)
PULL_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def save_link(session: Session, tenant_id: str, ams_url: str, api_key: str, webhook_secret: str) -> None:
    """Remember how this tenant's LMS reaches its AMS (replaces an earlier link)."""
    session.execute(delete(AmsLink).where(AmsLink.tenant_id == tenant_id))
    session.add(AmsLink(tenant_id=tenant_id, ams_url=ams_url, api_key=api_key, webhook_secret=webhook_secret))


def _link(session: Session, tenant_id: str) -> AmsLink:
    link = session.scalar(select(AmsLink).where(AmsLink.tenant_id == tenant_id))
    if link is None:
        raise NotFound(f"Tenant '{tenant_id}' has no AMS link for purchases.", code="no_ams_link")
    return link


def _is_newer(session: Session, tenant_id: str, member_id: str, version: int | None) -> bool:
    """Record ``version`` for the member unless a newer (or the same) set was applied already."""
    if version is None:
        return True
    state = session.scalar(
        select(PurchaseSyncState).where(
            PurchaseSyncState.tenant_id == tenant_id, PurchaseSyncState.member_id == member_id
        )
    )
    if state is None:
        session.add(PurchaseSyncState(tenant_id=tenant_id, member_id=member_id, version=version))
        return True
    if state.version >= version:
        return False
    state.version = version
    return True


def reconcile(
    session: Session, tenant: Tenant, member_id: str, entitled: set[str], version: int | None = None
) -> dict[str, Any]:
    """Enrol in every entitled course not yet granted; revoke every grant no longer entitled.

    A ``version`` older than the last one applied for the member changes nothing (``stale``). Concurrent
    reconciliations of one member (two purchase webhooks at once) take turns, so neither trips on the
    other's first sync state or grant.
    """
    serialize_in_transaction(session, "lms.purchase_sync", tenant.id, member_id)
    if not _is_newer(session, tenant.id, member_id, version):
        return {"enrolled": [], "revoked": [], "stale": True}
    granted = set(
        session.scalars(
            select(PurchaseGrant.course_code).where(
                PurchaseGrant.tenant_id == tenant.id, PurchaseGrant.member_id == member_id
            )
        )
    )
    known = set(
        session.scalars(select(Course.code).where(Course.tenant_id == tenant.id, Course.code.in_(entitled)))
    )
    for unknown in sorted(entitled - known):
        log.warning("tenant %s: member %s is entitled to unknown course %s", tenant.id, member_id, unknown)
    added = sorted((entitled & known) - granted)
    removed = sorted(granted - entitled)
    now = tenant_now(tenant)
    for code in added:
        enroll(session, tenant, member_id, code)
        session.add(PurchaseGrant(tenant_id=tenant.id, member_id=member_id, course_code=code, granted_at=now))
    for code in removed:
        revoke_enrollment(session, tenant.id, member_id, code)
    if removed:
        session.execute(
            delete(PurchaseGrant).where(
                PurchaseGrant.tenant_id == tenant.id,
                PurchaseGrant.member_id == member_id,
                PurchaseGrant.course_code.in_(removed),
            )
        )
    session.flush()
    return {"enrolled": added, "revoked": removed, "stale": False}


def _version(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _members_of(payload: Any) -> list[tuple[str, set[str], int | None]]:
    try:
        return [
            (
                str(item["member_id"]),
                {str(code) for code in item["entitlements"]},
                _version(item.get("version")),
            )
            for item in payload["members"]
        ]
    except (TypeError, KeyError) as exc:
        raise BadRequest(
            "A purchase webhook carries 'members': [{'member_id', 'entitlements': [...]}].",
            code="bad_payload",
        ) from exc


def receive_purchase_webhook(
    session: Session, tenant: Tenant, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """Verify, dedupe and apply one purchase webhook; a redelivered id changes nothing."""
    link = _link(session, tenant.id)
    try:
        webhook_id = verify(link.webhook_secret, headers, body)
    except WebhookVerificationError as exc:
        raise SandboxError(exc.message, code=exc.reason, http_status=401) from exc
    seen = session.scalar(
        select(PurchaseWebhook.pk).where(
            PurchaseWebhook.tenant_id == tenant.id, PurchaseWebhook.webhook_id == webhook_id
        )
    )
    if seen is not None:
        return {"webhook_id": webhook_id, "result": "duplicate"}
    try:
        payload = json_text.loads(body)
    except ValueError as exc:
        raise BadRequest("The webhook body is not valid JSON.", code="invalid_json") from exc
    members = _members_of(payload)
    session.add(
        PurchaseWebhook(
            tenant_id=tenant.id,
            webhook_id=webhook_id,
            topic=str(payload.get("type", ""))[:40],
            received_at=wall_now(),
        )
    )
    changes = {
        member_id: reconcile(session, tenant, member_id, codes, version)
        for member_id, codes, version in members
    }
    return {"webhook_id": webhook_id, "result": "applied", "changes": changes}


def pull_entitlements(link: AmsLink, tenant_id: str, member_id: str) -> tuple[set[str], int | None] | None:
    """The member's entitled course codes (and their version) from the AMS; None when it does not answer."""
    url = f"{link.ams_url}/t/{tenant_id}/api/members/{member_id}/entitlements"
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {link.api_key}"},
            timeout=PULL_TIMEOUT,
            verify=client_verify(),
        )
    except httpx.HTTPError as exc:
        log.warning("tenant %s: entitlements of %s unavailable: %s", tenant_id, member_id, exc)
        return None
    if response.status_code != 200:
        log.warning("tenant %s: entitlements of %s answered %s", tenant_id, member_id, response.status_code)
        return None
    body = response.json()
    return {str(code) for code in body.get("course_codes", [])}, _version(body.get("version"))


def reconcile_at_sign_on(db: Database, tenant_id: str, member_id: str, purchase_sync: str) -> None:
    """With ``purchase_sync: next_sign_on`` (the tenant's setting), pull the member's entitlements and
    reconcile (else nothing).

    An AMS that does not answer leaves the enrollments as they were (the sign-on itself goes on).
    """
    if purchase_sync != "next_sign_on":
        return
    with db.read() as session:
        link = session.scalar(select(AmsLink).where(AmsLink.tenant_id == tenant_id))
    if link is None:
        return
    pulled = pull_entitlements(link, tenant_id, member_id)
    if pulled is None:
        return
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        reconcile(session, tenant, member_id, *pulled)
