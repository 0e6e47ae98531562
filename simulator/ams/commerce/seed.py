"""The demo catalog of the AMS: one product per LMS course or webinar, two bundles, a book, an event
ticket and membership dues, plus two coupons. Deterministic: the same courses give the same prices.

Prices (minor units) follow the course's contact hours: members pay 25.00 + 15.00 per hour (webinars
60 %), students half the member price, non-members 150 % of it; a bundle costs 80 % of its items.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from simulator.ams.commerce.models import Coupon, Product
from simulator.core.clock import wall_now

BUNDLES = (
    ("BUNDLE-CLE", "Legal Ethics & Drafting Bundle", ("ETH-101", "CLE-204", "CLE-310")),
    ("BUNDLE-CPE", "Accounting Essentials Bundle", ("CPE-110", "CPE-215", "CPE-W01")),
)
OTHER_PRODUCTS = (
    ("BOOK-ETHICS", "book", "The Practitioner's Ethics Handbook (print)", 4500, 5900),
    ("TICKET-CONF", "event_ticket", "Annual Conference 2026 — Full Pass", 49500, 69500),
    ("DUES-REGULAR", "membership_dues", "Annual Membership Dues", 19500, 19500),
)


def _course_prices(contact_hours: float, kind: str) -> dict[str, int]:
    member = 2500 + int(1500 * contact_hours)
    if kind == "webinar":
        member = member * 60 // 100
    member = (member + 99) // 100 * 100
    return {"member": member, "student": member // 2, "non_member": member * 3 // 2}


def seed_products(session: Session, tenant_id: str, lms_courses: Iterable[Mapping[str, Any]]) -> int:
    """Insert the demo catalog for ``tenant_id`` (``lms_courses``: code, title, kind, contact_hours)."""
    now = wall_now()
    rows: list[dict[str, Any]] = []
    prices: dict[str, dict[str, int]] = {}
    for course in lms_courses:
        prices[course["code"]] = _course_prices(float(course["contact_hours"]), course["kind"])
        rows.append(
            {
                "code": course["code"],
                "kind": course["kind"],
                "title": course["title"],
                "lms_code": course["code"],
                "default_price": prices[course["code"]]["non_member"],
                "prices": prices[course["code"]],
                "bundle_items": [],
            }
        )
    for code, title, items in BUNDLES:
        present = [item for item in items if item in prices]
        if not present:
            continue
        bundle = {
            name: sum(prices[item][name] for item in present) * 80 // 100
            for name in ("member", "student", "non_member")
        }
        rows.append(
            {
                "code": code,
                "kind": "bundle",
                "title": title,
                "lms_code": None,
                "default_price": bundle["non_member"],
                "prices": bundle,
                "bundle_items": present,
            }
        )
    for code, kind, title, member_price, non_member_price in OTHER_PRODUCTS:
        rows.append(
            {
                "code": code,
                "kind": kind,
                "title": title,
                "lms_code": None,
                "default_price": non_member_price,
                "prices": {"member": member_price, "non_member": non_member_price},
                "bundle_items": [],
            }
        )
    session.execute(
        insert(Product), [{**row, "tenant_id": tenant_id, "active": True, "created_at": now} for row in rows]
    )
    coupons = [
        {"code": "WELCOME10", "percent_off": 10, "amount_off": None, "expires_at": None, "usage_limit": None},
        {"code": "SPRING25", "percent_off": None, "amount_off": 2500,
         "expires_at": now + dt.timedelta(days=90), "usage_limit": 100},
    ]  # fmt: skip
    session.execute(
        insert(Coupon),
        [{**coupon, "tenant_id": tenant_id, "times_used": 0, "created_at": now} for coupon in coupons],
    )
    return len(rows)
