"""``checkout``: new members buying courses at the AMS by card; purchase sync enrols them at the LMS.

Prepared: the AMS catalog's products that grant LMS courses (courses, webinars and bundles); the tenant
must have ``purchase_sync: immediate``, a new tenant's default (the AMS's outbox notifies the LMS, which
enrols).
Reconciled after the outbox drained: every checkout against the orders the AMS stored for its member,
the orders' payments, the tenant's ledger, and the LMS's enrollments for every course an order bought.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from loadtests.plan import buyer_prefix
from loadtests.profile import Finished, Option, Profile
from loadtests.reconcile import Section, outbox_rows, sample, wait_for_outbox
from simulator.scenario.client import TenantClient

ORDER_PAGE = 500
"""The most orders ``GET /api/orders`` answers; it has no cursor, so a full page means there are more."""
ENROLLMENT_PAGE = 1000
"""The most enrollments ``GET /api/enrollments`` answers (no cursor either)."""
GRANTING_STATUSES = frozenset({"paid", "partially_refunded"})


def prepare(tenant: TenantClient, options: Mapping[str, Any]) -> dict[str, Any]:
    if float(options.get("declines", 0.2)) > 1:
        raise ValueError("--option declines is a share of checkouts, from 0 to 1.")
    sync = tenant.settings().get("purchase_sync", "immediate")
    if sync != "immediate":
        raise ValueError(
            f"The tenant {tenant.tenant_id} has purchase_sync: {sync}; checkout needs immediate (the LMS "
            "enrols when the AMS notifies it)."
        )
    products = [
        product["code"]
        for product in tenant.products()
        if product.get("active", True) and (product.get("lms_code") or product.get("bundle_items"))
    ]
    if not products:
        raise ValueError(f"The tenant {tenant.tenant_id} sells no product that grants an LMS course.")
    return {"products": products}


def judge(finished: Finished) -> list[Section]:
    return [
        judge_checkouts(
            finished.tenant, finished.ledger, finished.plan.run_id, finished.seconds, finished.drain_timeout
        )
    ]


def judge_checkouts(
    tenant: TenantClient, ledger: Mapping[str, Any], run_id: str, seconds: float, drain_timeout: float
) -> Section:
    """Checkouts (from the ledger) against the AMS's orders and ledger and the LMS's enrollments."""
    section = Section("checkout")
    counts = wait_for_outbox(tenant, drain_timeout)
    sent: Mapping[str, Mapping[str, Any]] = ledger.get("checkouts", {})
    prefix = buyer_prefix(run_id)
    by_outcome: dict[str, set[str]] = {}
    for member_id, facts in sent.items():
        by_outcome.setdefault(facts.get("outcome", "unconfirmed"), set()).add(member_id)
    paid, declined = by_outcome.get("paid", set()), by_outcome.get("declined", set())
    declining = {member_id for member_id, facts in sent.items() if facts.get("card") == "decline"}

    every_order, complete = _all_orders(tenant)
    if complete:
        orders = [order for order in every_order if (order.get("member_id") or "").startswith(prefix)]
    else:
        orders = [
            order for member_id in sent for order in tenant.orders(member_id=member_id, limit=ORDER_PAGE)
        ]
    orders_of: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        orders_of.setdefault(order["member_id"], []).append(order)

    if not paid:
        section.problems.append("no checkout was paid during the run: the load never completed a purchase")
    section.add("checkouts attempted", len(sent), "one new member each")
    section.add(
        "answered paid", len(paid), f"{len(paid) / seconds:.1f} checkouts/s over the run" if seconds else ""
    )
    section.add("answered declined", len(declined), f"of {len(declining)} paying with a declining card")
    section.add("failed", len(by_outcome.get("failed", set())), "no usable answer; by step in details")
    section.add("unconfirmed", len(by_outcome.get("unconfirmed", set())), "cut off by the end of the run")
    section.add(
        "approving card declined",
        len(declined - declining),
        "",
        "{value} checkouts with an approving card were declined",
    )
    section.add(
        "declining card charged",
        len(paid & declining),
        "",
        "{value} checkouts with a declining card were answered paid",
    )
    _order_rows(section, sent, orders_of, paid, declined, prefix)
    _ledger_rows(section, tenant, every_order if complete else None)
    expected = {
        (order["member_id"], code)
        for order in orders
        if order["status"] in GRANTING_STATUSES
        for line in order["lines"]
        if not line["refunded"]
        for code in line["lms_codes"] or []
    }
    enrolled, read_per = _run_enrollments(tenant, set(sent) | set(orders_of), prefix)
    _enrollment_rows(section, expected, enrolled, declined)
    outbox_rows(section, counts, drain_timeout)
    section.details = {
        "checkouts_per_second": len(paid) / seconds if seconds else 0.0,
        "failed_by_step": dict(
            Counter(
                f"{facts.get('step') or 'start'} → {facts.get('status', 'no answer')}"
                for facts in sent.values()
                if facts.get("outcome") == "failed"
            ).most_common()
        ),
        "declined_reasons": dict(Counter(sent[member_id].get("reason") for member_id in declined)),
        "orders_read": "one listing" if complete else "per member (the tenant has more orders than one page)",
        "enrollments_read": read_per,
        "missing_enrollment_sample": sample(f"{m}:{c}" for m, c in expected - enrolled.keys()),
        "outbox": counts,
    }
    return section


def _all_orders(tenant: TenantClient) -> tuple[list[dict[str, Any]], bool]:
    """Every order of the tenant when one page holds them all (``complete``), else the oldest page."""
    orders = tenant.orders(limit=ORDER_PAGE)
    return orders, len(orders) < ORDER_PAGE


def _order_rows(
    section: Section,
    sent: Mapping[str, Mapping[str, Any]],
    orders_of: Mapping[str, list[dict[str, Any]]],
    paid: set[str],
    declined: set[str],
    prefix: str,
) -> None:
    """Orders at the AMS for the run's members against the checkouts' answers, and their payments."""
    lost = {member_id for member_id in paid if not orders_of.get(member_id)}
    differing = {
        member_id
        for member_id in paid - lost
        if not any(_matches(order, sent[member_id]) for order in orders_of[member_id])
    }
    unanswered = {
        member_id for member_id in orders_of if member_id in sent and member_id not in paid | declined
    }
    unpaid = [
        order["number"]
        for member_orders in orders_of.values()
        for order in member_orders
        if order["status"] != "paid" or order["paid_amount"] != order["total"] or order["amount_due"]
    ]
    section.add("orders at the AMS", sum(len(found) for found in orders_of.values()), "for the run's members")
    section.add("paid, no order", len(lost), "", "{value} checkouts answered paid have no order at the AMS")
    section.add(
        "order differs from the answer",
        len(differing),
        "number, total or products",
        "{value} orders differ from what their checkout answered",
    )
    section.add(
        "extra orders",
        sum(len(found) - 1 for found in orders_of.values() if len(found) > 1),
        "each member checked out once",
        "{value} extra orders were stored",
    )
    section.add(
        "declined, yet ordered",
        len(declined & orders_of.keys()),
        "",
        "{value} declined checkouts left an order",
    )
    section.add(
        "phantom orders",
        len({member_id for member_id in orders_of if member_id not in sent and member_id.startswith(prefix)}),
        "for run members who never checked out",
        "{value} run members have orders they never placed",
    )
    section.add("orders of unanswered checkouts", len(unanswered), "failed or cut off, yet placed")
    section.add(
        "orders not fully paid",
        len(unpaid),
        "card orders must be paid in full, nothing due",
        "{value} card orders are not paid in full",
    )


def _matches(order: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    return (
        order["number"] == facts.get("order")
        and order["total"] == facts.get("total")
        and sorted(line["product_code"] for line in order["lines"]) == sorted(facts.get("products", []))
    )


def _ledger_rows(section: Section, tenant: TenantClient, every_order: list[dict[str, Any]] | None) -> None:
    """The tenant's double-entry ledger: balanced, and (when every order is known) agreeing with them."""
    balances = tenant.ledger()
    accounts = balances["accounts"]
    section.add(
        "ledger out of balance",
        sum(accounts.values()),
        "debits − credits over every account",
        "the tenant's ledger is out of balance by {value}",
    )
    if every_order is None:
        section.add("ledger against orders", "not compared", f"more than {ORDER_PAGE} orders, one page only")
        return
    cash = sum(order["paid_amount"] - order["refunded_amount"] for order in every_order)
    due = sum(order["amount_due"] for order in every_order)
    section.add(
        "ledger against orders",
        abs(accounts.get("cash", 0) - cash) + abs(balances["amount_due"] - due),
        "cash and amount due, in minor units",
        "the ledger's cash and amount due differ from the orders' by {value}",
    )


def _run_enrollments(
    tenant: TenantClient, members: set[str], prefix: str
) -> tuple[Counter[tuple[str, str]], str]:
    """Enrollments at the LMS of the run's members, by (member, course): one listing per course when each
    fits one page, else one per member; and which way they were read."""
    found: Counter[tuple[str, str]] = Counter()
    for course in tenant.courses():
        listed = tenant.enrollments(course_code=course["code"], limit=ENROLLMENT_PAGE)
        if len(listed) >= ENROLLMENT_PAGE:
            return _member_enrollments(tenant, members), "per member"
        found.update(_pairs(item for item in listed if item["member_id"].startswith(prefix)))
    return found, "per course"


def _member_enrollments(tenant: TenantClient, members: Iterable[str]) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for member_id in members:
        found.update(_pairs(tenant.enrollments(member_id=member_id, limit=ENROLLMENT_PAGE)))
    return found


def _pairs(enrollments: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(item["member_id"], item["course_code"]) for item in enrollments]


def _enrollment_rows(
    section: Section,
    expected: set[tuple[str, str]],
    enrolled: Counter[tuple[str, str]],
    declined: set[str],
) -> None:
    """Each purchased course enrolled exactly once at the LMS, and nothing else."""
    section.add("purchased courses", len(expected), "(member, course) pairs the paid orders grant")
    section.add(
        "missing enrollment",
        len(expected - enrolled.keys()),
        "bought, not enrolled at the LMS",
        "{value} purchased courses have no enrollment at the LMS",
    )
    section.add(
        "duplicate enrollments",
        sum(n - 1 for n in enrolled.values() if n > 1),
        "",
        "{value} extra enrollments for one member and course",
    )
    section.add(
        "declined, yet enrolled",
        len({member_id for member_id, _ in enrolled if member_id in declined}),
        "",
        "{value} members whose checkout was declined are enrolled",
    )
    section.add(
        "enrolled, not purchased",
        len(enrolled.keys() - expected),
        "",
        "{value} enrollments of run members match no paid order",
    )


PROFILE = Profile(
    name="checkout",
    summary="New members buy courses by card at the AMS; purchase sync enrols them at the LMS.",
    locustfile="checkout.py",
    prepare=prepare,
    reconcile=judge,
    options={
        "declines": Option(0.2, "share of checkouts paid with a card the gateway declines"),
        "max_attempts": Option(4, "attempts per tokenisation or checkout (same Idempotency-Key)"),
        "retry_cap_seconds": Option(2.0, "longest wait between attempts"),
    },
)
