"""Entitlements (which LMS courses a member may take because of purchases) and their sync to the LMS.

No Flask here. A member is entitled to the LMS codes of every line not refunded of their own orders that
grant access, and of every bulk-order seat assigned to them. An order grants access when it is ``paid``
or ``partially_refunded``, or ``invoiced`` while ``commerce.access_before_payment`` is on.

With ``purchase_sync: immediate`` every change enqueues, in the caller's transaction, one signed webhook
to the tenant's ``lms-purchases`` endpoint carrying each affected member's **complete** entitlement set
(the LMS reconciles to it, exactly as it does at sign-on in ``next_sign_on`` mode)::

    {"type": "order.paid", "order": "O-…", "occurred_at": "…",
     "members": [{"member_id": "M100001", "entitlements": ["CLE-204"], "version": 1764338400123456}]}

``version`` (microseconds of the wall clock when the set was computed) orders the sets of one member: the
outbox may deliver two messages in either order, and the LMS ignores a set older than one it applied.

Topics: ``order.paid``, ``order.invoiced`` (access before payment), ``order.refunded``,
``order.cancelled``, ``seat.assigned``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.commerce.models import Order, OrderLine, Seat
from simulator.core.clock import tenant_now
from simulator.core.models import Tenant
from simulator.core.outbox import enqueue
from simulator.core.tenancy import tenant_settings

PURCHASE_ENDPOINT = "lms-purchases"
PURCHASE_TOPICS = ("order.paid", "order.invoiced", "order.refunded", "order.cancelled", "seat.assigned")


def entitlement_version() -> int:
    """A version for an entitlement set computed now (wall-clock microseconds; later sets are larger)."""
    return time.time_ns() // 1000


def _granting_statuses(tenant: Tenant) -> tuple[str, ...]:
    statuses = ("paid", "partially_refunded")
    if tenant_settings(tenant).commerce.access_before_payment:
        statuses += ("invoiced",)
    return statuses


def entitlement_sources(session: Session, tenant: Tenant, member_id: str) -> list[dict[str, Any]]:
    """Every (course code, order, source) that entitles ``member_id``, sorted by course code."""
    statuses = _granting_statuses(tenant)
    found: list[dict[str, Any]] = []
    own = session.execute(
        select(Order.number, OrderLine.product_code, OrderLine.lms_codes)
        .join(OrderLine, OrderLine.order_pk == Order.pk)
        .where(
            Order.tenant_id == tenant.id,
            Order.member_id == member_id,
            Order.organisation_id.is_(None),
            Order.status.in_(statuses),
            OrderLine.refunded.is_(False),
        )
    )
    for number, product_code, codes in own:
        found += [
            {"course_code": c, "order": number, "product_code": product_code, "source": "order"}
            for c in codes
        ]
    seats = session.execute(
        select(Order.number, Seat.lms_codes)
        .join(Order, Order.pk == Seat.order_pk)
        .where(Seat.tenant_id == tenant.id, Seat.member_id == member_id, Order.status.in_(statuses))
    )
    for number, codes in seats:
        found += [{"course_code": c, "order": number, "product_code": None, "source": "seat"} for c in codes]
    return sorted(found, key=lambda item: (item["course_code"], item["order"]))


def entitled_codes(session: Session, tenant: Tenant, member_id: str) -> list[str]:
    return sorted({item["course_code"] for item in entitlement_sources(session, tenant, member_id)})


def entitlements_json(session: Session, tenant: Tenant, member_id: str) -> dict[str, Any]:
    sources = entitlement_sources(session, tenant, member_id)
    return {
        "member_id": member_id,
        "course_codes": sorted({item["course_code"] for item in sources}),
        "sources": sources,
        "as_of": tenant_now(tenant).isoformat(),
        "version": entitlement_version(),
    }


def affected_members(session: Session, order: Order) -> list[str]:
    """The buyer and every seat holder of ``order``."""
    members = {order.member_id} if order.member_id and order.organisation_id is None else set()
    members.update(
        session.scalars(select(Seat.member_id).where(Seat.order_pk == order.pk, Seat.member_id.is_not(None)))
    )
    return sorted(member for member in members if member)


def notify_lms(
    session: Session,
    tenant: Tenant,
    topic: str,
    order: Order,
    event_key: str,
    members: list[str] | None = None,
) -> None:
    """Enqueue ``topic`` for the LMS when ``purchase_sync`` is ``immediate`` (else nothing: sign-on pulls).

    ``event_key`` makes the ``webhook-id`` stable for this one fact (e.g. the ledger transaction).
    """
    if tenant_settings(tenant).purchase_sync != "immediate":
        return
    session.flush()
    targets = affected_members(session, order) if members is None else members
    if not targets:
        return
    payload = {
        "type": topic,
        "order": order.number,
        "occurred_at": tenant_now(tenant).isoformat(),
        "members": [
            {
                "member_id": member_id,
                "entitlements": entitled_codes(session, tenant, member_id),
                "version": entitlement_version(),
            }
            for member_id in targets
        ],
    }
    enqueue(
        session,
        tenant.id,
        endpoint=PURCHASE_ENDPOINT,
        topic=topic,
        message_id=f"{topic}:{order.number}:{event_key}",
        payload=payload,
    )
