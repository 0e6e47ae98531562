"""Conditions on the sandbox as a system rather than on people: the AMS inbox, the outbox and its delivery
attempts, the request journal, fault rules and the processes of ``sandbox up``.
"""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase
from typing import Any

from simulator.scenario import conditions as c
from simulator.scenario.steps import RunContext, StepFailed
from simulator.scenario.steps.matching import Check, Mismatches, count_ok, describe_count


def check_inbox(ctx: RunContext, cond: c.InboxCondition) -> Check:
    counts = ctx.tenant.inbox(limit=1)["counts"]
    out = Mismatches("ams.inbox")
    for result in ("accepted", "duplicate", "rejected"):
        out.count(result, getattr(cond, result), counts.get(result, 0))
    return out.lines, counts


OUTBOX_STATES = ("pending", "in_flight", "delivered", "retrying", "dead")


def check_outbox(ctx: RunContext, cond: c.OutboxCondition) -> Check:
    needs_items = cond.topic is not None or cond.attempts is not None or cond.history is not None
    items = ctx.tenant.outbox(topic=cond.topic)["items"] if needs_items else []
    if cond.topic is None:
        counts = ctx.tenant.outbox(limit=1)["counts"]
    else:
        counts = dict(Counter(item["state"] for item in items))
    out = Mismatches(f"outbox[{cond.topic}]" if cond.topic else "outbox")
    for state in OUTBOX_STATES:
        out.count(state, getattr(cond, state), counts.get(state, 0))
    out.count("total", cond.total, sum(counts.values()))
    observed: dict[str, Any] = dict(sorted(counts.items()))
    if cond.attempts is not None:
        made = [item["attempts"] for item in items]
        matching = [count for count in made if count_ok(cond.attempts, count)]
        wanted = describe_count(cond.attempts)
        if cond.attempts.of == "all" and len(matching) != len(made):
            out.lines.append(
                f"{out.prefix}.attempts: expected {wanted} for every message, observed {sorted(made)}"
            )
        if cond.attempts.of == "some" and not matching:
            out.lines.append(
                f"{out.prefix}.attempts: expected {wanted} for some message, observed {sorted(made)}"
            )
        observed["attempts"] = dict(sorted(Counter(made).items()))
    if cond.history is not None:
        observed["history"] = _check_history(out, cond.history, items)
    return out.lines, observed


def _outcomes(item: dict[str, Any]) -> list[str]:
    attempts = sorted(item.get("attempt_history", []), key=lambda attempt: attempt["number"])
    return [attempt["outcome"] for attempt in attempts]


def _history_matches(cond: c.AttemptHistory, outcomes: list[str]) -> bool:
    exact = cond.outcomes is None or outcomes == list(cond.outcomes)
    return exact and all(outcome in outcomes for outcome in cond.includes or [])


def _check_history(out: Mismatches, cond: c.AttemptHistory, items: list[dict[str, Any]]) -> Any:
    """The outcomes of the chosen message's attempts (listings come newest first)."""
    oldest_first = sorted(items, key=lambda item: item["id"])
    histories = [_outcomes(item) for item in oldest_first]
    wanted = {"outcomes": cond.outcomes, "includes": cond.includes}
    if cond.message == "any":
        if not any(_history_matches(cond, outcomes) for outcomes in histories):
            seen = sorted({" > ".join(outcomes) for outcomes in histories})
            out.lines.append(f"{out.prefix}.history: expected some message with {wanted}, observed {seen}")
        return dict(sorted(Counter(" > ".join(outcomes) for outcomes in histories).items()))
    index = cond.message - 1 if isinstance(cond.message, int) else (0 if cond.message == "first" else -1)
    if not histories or index >= len(histories):
        out.lines.append(f"{out.prefix}.history: expected message {cond.message}, observed {len(histories)}")
        return []
    outcomes = histories[index]
    if not _history_matches(cond, outcomes):
        out.lines.append(f"{out.prefix}.history[{cond.message}]: expected {wanted}, observed {outcomes}")
    return outcomes


def _journal_entry_matches(entry: dict[str, Any], cond: c.JournalCondition) -> bool:
    fault = entry.get("fault") or {}
    if cond.fault is not None and not (fault and fnmatchcase(str(fault.get("name") or ""), cond.fault)):
        return False
    return cond.connection_reset is None or (fault.get("kind") == "connection_reset") == cond.connection_reset


def check_journal(ctx: RunContext, cond: c.JournalCondition) -> Check:
    entries = ctx.tenant.journal(app=cond.app, method=cond.method, path=cond.path, status=cond.status)
    entries = [entry for entry in entries if _journal_entry_matches(entry, cond)]
    out = Mismatches("journal")
    out.count("count", cond.count, len(entries))
    statuses = Counter(str(entry["status"]) for entry in entries)
    return out.lines, {"count": len(entries), "statuses": dict(sorted(statuses.items()))}


def check_faults(ctx: RunContext, cond: dict[str, c.FaultCondition]) -> Check:
    """Counters by rule name over the whole run: live rules plus those the run removed."""
    counted: Counter[str] = Counter(ctx.removed_fault_counts)
    for rule in ctx.tenant.faults():
        name = rule["rule"].get("name") or f"rule {rule['id']}"
        counted[f"{name}:fired"] += rule["fired_count"]
        counted[f"{name}:matched"] += rule["matched_count"]
    out = Mismatches("faults")
    observed = {}
    for name, spec in cond.items():
        fired, matched = counted[f"{name}:fired"], counted[f"{name}:matched"]
        out.count(f"{name}.fired", spec.fired, fired)
        out.count(f"{name}.matched", spec.matched, matched)
        observed[name] = {"fired": fired, "matched": matched}
    return out.lines, observed


def check_processes(ctx: RunContext, cond: dict[str, c.ProcessCondition]) -> Check:
    out = Mismatches("processes")
    observed = {}
    for name, spec in cond.items():
        process = ctx.tenant.sandbox.process(name)
        if process is None:
            raise StepFailed(f"processes.{name}: the sandbox has no process {name!r}")
        restarts = process["restarts"] - ctx.restarts_before.get(process["name"], 0)
        out.equal(f"{name}.state", spec.state, process["state"])
        out.count(f"{name}.restarts", spec.restarts, restarts)
        observed[name] = {"state": process["state"], "restarts": restarts}
    return out.lines, observed
