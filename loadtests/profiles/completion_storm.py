"""``completion-storm``: learners completing courses on the LMS; the sandbox's worker writes them back.

Prepared: a fresh tenant writes back one CE-credit record per passed course, immediately
(``credits.awarded`` → ``ce_credit`` → CE transcript), with retries scaled down so that an injected
outage is retried within the run. Reconciled after the outbox drained: every passed course against the
records the AMS stored for that member and course.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from loadtests.plan import learner_prefix
from loadtests.profile import Finished, Option, Profile
from loadtests.reconcile import Section, outbox_rows, sample, wait_for_outbox
from simulator.scenario.client import TenantClient

CE_CREDITS_ONLY = {
    "writeback": {
        "rules": [{"name": "ce-credits", "trigger": "credits.awarded", "value_format": "ce_credit"}]
    },
    "retry": {"time_scale": 0.002},
}
"""Retries at 0.2 % of the Standard Webhooks schedule: 5 s → 10 ms, 5 min → 0.6 s, 30 min → 3.6 s."""


def prepare(tenant: TenantClient, options: Mapping[str, Any]) -> dict[str, Any]:
    courses = [course["code"] for course in tenant.courses() if course.get("kind", "course") == "course"]
    if not courses:
        raise ValueError(f"The tenant {tenant.tenant_id} has no courses to complete.")
    return {"courses": courses}


def judge(finished: Finished) -> list[Section]:
    return [judge_completions(finished.tenant, finished.ledger, finished.drain_timeout, finished.plan.run_id)]


def judge_completions(
    tenant: TenantClient, ledger: Mapping[str, Any], drain_timeout: float, run_id: str
) -> Section:
    """Passed courses (from the ledger) against the AMS's stored records for each (member, course)."""
    section = Section("completion writeback")
    counts = wait_for_outbox(tenant, drain_timeout)
    completions: Mapping[str, Mapping[str, Any]] = ledger.get("completions", {})
    passed = {key for key, facts in completions.items() if facts.get("outcome") == "passed"}
    unconfirmed = {key for key, facts in completions.items() if facts.get("outcome") == "unconfirmed"}
    prefix = learner_prefix(run_id)
    stored = Counter(
        f"{item['member_id']}:{item['activity_code']}"
        for item in tenant.inbox_items("accepted")
        if item["member_id"].startswith(prefix) and item.get("destination") == "ce_transcript"
    )
    lost = passed - stored.keys()
    phantoms = stored.keys() - completions.keys()
    if not passed:
        section.problems.append("no course was passed during the run: the load never reached the LMS")
    section.add("completions attempted", len(completions))
    section.add("courses passed", len(passed), "each owes one CE record at the AMS")
    section.add(
        "unconfirmed", len(unconfirmed), f"no answer; {len(unconfirmed & stored.keys())} written back anyway"
    )
    section.add("stored at the AMS", sum(stored.values()))
    section.add(
        "lost", len(lost), "passed, no record at the AMS", "{value} passed courses never reached the AMS"
    )
    section.add(
        "duplicated",
        sum(n - 1 for n in stored.values() if n > 1),
        "extra copies stored",
        "{value} extra copies of records were stored",
    )
    section.add(
        "phantoms", len(phantoms), "stored, never completed", "{value} records were stored for no completion"
    )
    outbox_rows(section, counts, drain_timeout)
    section.details = {"lost_sample": sample(lost), "phantom_sample": sample(phantoms), "outbox": counts}
    return section


PROFILE = Profile(
    name="completion-storm",
    summary="Learners complete courses on the LMS; the sandbox's worker writes them back to the AMS.",
    locustfile="completion_storm.py",
    prepare=prepare,
    reconcile=judge,
    settings=CE_CREDITS_ONLY,
    options={
        "courses": Option(8, "catalog courses each learner completes"),
        "score": Option(90.0, "the score of each completion (the pass mark decides credits)"),
    },
)
