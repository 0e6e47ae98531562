"""``sso-storm``: SAML or OIDC sign-ins through the real login form, each one a fresh browser.

Prepared: the tenant's ``sso.protocol`` set to the ``protocol`` option (for SAML, the tenant's LMS
registered as an SP at its AMS if it is not already — a new tenant has it), a pool of members who may
enter the LMS (active members: the access rules give them full access) with the seeded password, and one
sign-in through the scenario user agent before the load starts. That first sign-in proves the setup, and
with OIDC it is the one that registers the LMS as a client at the AMS (RFC 7591, on first use): the
registration is made once, not by each of the run's first concurrent sign-ins. Reconciled: every
sign-in against what the LMS's ``/me`` probe answered for it.

There is no API that lists the LMS's learners, so the probe is the record: it looks the learner up by
the member id of the session and answers from the LMS's learner record (a missing or denied learner
answers 401), and each sign-in that reached it says whether that record names the right person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from loadtests.plan import part_data
from loadtests.profile import Finished, Option, Profile
from loadtests.reconcile import Section, sample
from simulator.scenario.agent import UserAgent
from simulator.scenario.client import TenantClient
from simulator.seed import PERSONA_PASSWORD

MEMBERS = 200
PROTOCOLS = ("saml", "oidc")
POOL_LIMIT = 500
PROBE_STEP = "LMS GET /me (probe)"
"""The step name of the probe, as the locustfile names it in its statistics and the ledger."""


def prepare(tenant: TenantClient, options: Mapping[str, Any]) -> dict[str, Any]:
    protocol = str(options.get("protocol", "saml")).lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"--option protocol takes saml or oidc, not {protocol!r}.")
    tenant.patch_settings({"sso": {"protocol": protocol}})
    if protocol == "saml":
        entity_id = f"{tenant.lms_base}/saml/metadata"
        if not any(sp.get("entity_id") == entity_id for sp in tenant.service_providers()):
            tenant.register_lms_service_provider()
    members = [
        {"member_id": member["member_id"], "email": member["email"], "member_type": member["member_type"]}
        for member in tenant.members(status="active", record_type="member", limit=POOL_LIMIT)
    ]
    if not members:
        raise ValueError(f"The tenant {tenant.tenant_id} has no active members to sign in as.")
    sign_in_once(tenant, members[0], protocol)
    return {"protocol": protocol, "members": members, "password": PERSONA_PASSWORD}


def sign_in_once(tenant: TenantClient, member: Mapping[str, Any], protocol: str) -> None:
    """One whole sign-in as ``member``, ending on the LMS's probe; a ``ValueError`` when it does not."""
    start = f"{tenant.lms_base}/login?return_to=/t/{tenant.tenant_id}/me"
    with UserAgent("sso-storm setup") as browser:
        landed = browser.journey(start, member["email"], PERSONA_PASSWORD)
    if not landed.is_json or landed.body.get("member_id") != member["member_id"]:
        raise ValueError(
            f"A first {protocol} sign-in as {member['email']} did not reach the LMS's /me as that member "
            f"(it ended at {landed.url} with {landed.status} {landed.code or ''})."
        )


def judge(finished: Finished) -> list[Section]:
    pool = {member["member_id"]: member for member in part_data(finished.plan, "sso-storm")["members"]}
    return [judge_sign_ins(finished.ledger, pool, finished.seconds)]


def judge_sign_ins(
    ledger: Mapping[str, Any], pool: Mapping[str, Mapping[str, Any]], seconds: float
) -> Section:
    """Sign-ins (from the ledger) against the LMS probe's answer for each, and the AMS's member records."""
    section = Section("sso")
    attempts: Mapping[str, Mapping[str, Any]] = ledger.get("sign_ins", {})
    outcomes = Counter(facts.get("outcome", "unconfirmed") for facts in attempts.values())
    signed_in = [facts for facts in attempts.values() if facts.get("outcome") == "signed_in"]
    failed = [facts for facts in attempts.values() if facts.get("outcome") == "failed"]
    no_session = [facts for facts in failed if facts.get("step") == PROBE_STEP and facts.get("status") == 401]
    stale = [facts for facts in signed_in if _learner_disagrees(facts, pool.get(facts["member_id"], {}))]
    used = {facts["member_id"] for facts in attempts.values()}
    if not signed_in:
        section.problems.append("no sign-in reached the probe as its member: the load never signed anyone in")
    members_in = {facts["member_id"] for facts in signed_in}
    section.add("sign-ins attempted", len(attempts), f"as {len(used)} distinct members")
    section.add(
        "signed in as the right member",
        len(signed_in),
        f"{len(signed_in) / seconds:.1f} sign-ins/s over the run" if seconds else "",
    )
    section.add(
        "wrong identity",
        outcomes["wrong_identity"],
        "the probe named someone else",
        "{value} sign-ins landed on the LMS as someone else",
    )
    section.add(
        "no session at the probe",
        len(no_session),
        "the LMS sent the browser on to /me, which found nobody signed in (or no learner record)",
        "{value} sign-ins that completed at the LMS left no session as the member",
    )
    section.add(
        "refused",
        outcomes["refused"],
        "a definite refusal (4xx page) of an active member with the right password",
        "{value} sign-ins of active members with the right password were refused",
    )
    section.add(
        "failed", len(failed) - len(no_session), "errors, timeouts or unexpected pages; by step in details"
    )
    section.add("unconfirmed", outcomes["unconfirmed"], "cut off by the end of the run")
    section.add("members signed in", len(members_in), f"of {len(pool)} in the pool")
    section.add(
        "learner records out of date",
        len({facts["member_id"] for facts in stale}),
        "the probe's learner status or access disagrees with the AMS member",
        "{value} members' LMS learner records disagree with the AMS",
    )
    section.details = {
        "sign_ins_per_second": len(signed_in) / seconds if seconds else 0.0,
        "outcomes": dict(outcomes.most_common()),
        "failed_by_step": dict(Counter(_step(facts) for facts in failed).most_common()),
        "refused_by_step": dict(
            Counter(_step(facts) for facts in attempts.values() if facts.get("outcome") == "refused")
        ),
        "wrong_identity_sample": sample(
            f"{facts['member_id']} seen as {facts.get('seen_member_id')}"
            for facts in attempts.values()
            if facts.get("outcome") == "wrong_identity"
        ),
        "stale_learner_sample": sample({facts["member_id"] for facts in stale}),
    }
    return section


def _step(facts: Mapping[str, Any]) -> str:
    status = facts.get("status")
    code = facts.get("code")
    return f"{facts.get('step') or 'start'} → {status if status is not None else 'no answer'}" + (
        f" {code}" if code else ""
    )


def _learner_disagrees(facts: Mapping[str, Any], member: Mapping[str, Any]) -> bool:
    """Whether the learner record the probe showed is not what the AMS says of the (active) member."""
    return (
        facts.get("learner_status") != "active"
        or facts.get("learner_access") != "full"
        or facts.get("learner_type") != member.get("member_type")
    )


PROFILE = Profile(
    name="sso-storm",
    summary="SAML or OIDC sign-ins through the AMS login form, each ending on the LMS's /me probe.",
    locustfile="sso_storm.py",
    prepare=prepare,
    reconcile=judge,
    members=MEMBERS,
    options={"protocol": Option("saml", "saml or oidc: how the LMS signs learners in")},
)
