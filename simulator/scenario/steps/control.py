"""Control steps: business clock, settings, fault rules, and membership changes in the AMS."""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulator.scenario.model import AdvanceClock, ClearFaults, ScenarioFault, SetMemberStatus
from simulator.scenario.steps import Person, RunContext, step


@step("advance_clock")
def advance_clock(ctx: RunContext, params: AdvanceClock) -> dict[str, Any]:
    if params.until is not None:
        clock = ctx.tenant.advance_clock(until=params.until.isoformat())
    else:
        amount = params.model_dump(include={"days", "hours", "minutes", "seconds"})
        clock = ctx.tenant.advance_clock(**{unit: value for unit, value in amount.items() if value})
    ran = Counter(f"{job['kind']}:{job.get('state', 'done')}" for job in clock.get("jobs_run", []))
    return {"now": clock["now"], "local_now": clock["local_now"], "jobs_run": dict(sorted(ran.items()))}


@step("set_member_status")
def set_member_status(ctx: RunContext, params: SetMemberStatus) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": params.status}
    if params.expiry_date is not None:
        fields["expiry_date"] = params.expiry_date.isoformat()
    if params.member_type is not None:
        fields["member_type"] = params.member_type
    if params.email is not None:
        fields["email"] = params.email

    def update(person: Person) -> dict[str, Any]:
        member = ctx.tenant.update_member(person.member_id, fields)
        observed = {
            "status": member["status"],
            "member_type": member["member_type"],
            "expiry_date": member["expiry_date"],
        }
        if params.email is not None:  # the same browser, now signing in with the new address
            if person.email in ctx.agents:
                ctx.agents[member["email"]] = ctx.agents.pop(person.email)
            person.email = observed["email"] = member["email"]
        return observed

    return ctx.per_person(params.actor, update)


@step("patch_settings")
def patch_settings(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.tenant.patch_settings(params)
    return {"patched": sorted(params)}


@step("set_fault")
def set_fault(ctx: RunContext, params: ScenarioFault) -> dict[str, Any]:
    rule = params.model_dump(mode="json", exclude_defaults=True, exclude={"until"}, by_alias=True)
    added = ctx.tenant.set_fault(rule)
    if params.until is not None:
        ctx.faults_until.setdefault(params.until, []).append(added["id"])
    observed: dict[str, Any] = {"rule": rule}
    if added["rule"].get("active_until"):
        observed["active_until"] = added["rule"]["active_until"]
    if params.until is not None:
        observed["until"] = params.until
    return observed


@step("clear_faults")
def clear_faults(ctx: RunContext, params: ClearFaults) -> dict[str, Any]:
    fired = {}
    for rule in ctx.tenant.faults():
        name = rule.get("rule", {}).get("name") or f"rule {rule['id']}"
        fired[name] = rule.get("fired_count", 0)
        ctx.removed_fault_counts[f"{name}:fired"] += rule.get("fired_count", 0)
        ctx.removed_fault_counts[f"{name}:matched"] += rule.get("matched_count", 0)
    ctx.tenant.clear_faults()
    ctx.faults_until.clear()
    return {"fired": fired}
