"""``writeback-ingest``: connectors posting signed completion records to the AMS inbox, single and bulk.

Prepared: a tenant with seeded members (records name them) and a fresh inbox secret for the
connectors. Reconciled: every record sent against the records the AMS stored and the inbox's log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtests import reconcile
from loadtests.profile import Finished, Option, Profile
from loadtests.reconcile import Section
from simulator.scenario.client import TenantClient

MEMBERS = 200


def prepare(tenant: TenantClient, options: Mapping[str, Any]) -> dict[str, Any]:
    members = [member["member_id"] for member in tenant.members(limit=500)]
    if not members:
        raise ValueError(f"The tenant {tenant.tenant_id} has no members for the records to name.")
    return {"members": members, "inbox_secret": tenant.add_inbox_secret()}


def judge(finished: Finished) -> list[Section]:
    return [
        reconcile.writeback_ingest(finished.tenant, finished.ledger, finished.plan.run_id, finished.seconds)
    ]


PROFILE = Profile(
    name="writeback-ingest",
    summary="Connectors post signed completion records to the AMS inbox, single and bulk.",
    locustfile="writeback_ingest.py",
    prepare=prepare,
    reconcile=judge,
    members=MEMBERS,
    options={
        "bulk": Option(100, "records per bulk delivery (0: single envelopes only)"),
        "singles": Option(0.2, "share of deliveries that are one envelope"),
        "invalid": Option(0.02, "share of records that name no member, to be rejected"),
        "resend": Option(0.02, "share of deliveries sent again after their answer"),
        "max_attempts": Option(8, "attempts per delivery before the connector gives up"),
        "retry_cap_seconds": Option(2.0, "longest wait between attempts"),
    },
)
