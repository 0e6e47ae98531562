"""``expect`` and ``wait_for``: declarative checks of observable state, read over the public APIs.

Each condition reads what it needs (LMS enrollments or the actor's ``/me``, the AMS transcript, inbox,
member, orders and ledger, the console's outbox and journal), compares it with what the scenario says,
and returns (mismatches, observed). ``expect`` fails at once on a mismatch; ``wait_for`` polls until
every condition holds or its timeout passes. Failures say what was expected and what was observed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from simulator.core.http_failures import http_failure
from simulator.scenario import model as m
from simulator.scenario.client import ApiError
from simulator.scenario.steps import Person, RunContext, StepFailed, expect_system, step
from simulator.scenario.steps.matching import Check, Mismatches, same

WRITEBACK_TOPICS = ("writeback.record", "writeback.batch")  # immediate rules' messages, then batches
RECORD_FIELDS = (  # a stored record in a step's observations (ids, stamps, certificate numbers left out)
    "activity_title", "completed_on", "credit_type", "credits", "score", "passed", "value", "trigger",
)  # fmt: skip


def _for_people(ctx: RunContext, actor: str, check_one: Callable[[Person], Check]) -> Check:
    mismatches: list[str] = []
    observed: dict[str, Any] = {}
    people = ctx.each(actor)
    for person in people:
        lines, seen = check_one(person)
        mismatches += lines
        observed[person.label] = seen
    if len(people) == 1 and people[0].index is None:
        observed = observed[people[0].label]
    return mismatches, observed


def check_enrollments(ctx: RunContext, cond: m.EnrollmentsCondition) -> Check:
    def one(person: Person) -> Check:
        enrollments = ctx.tenant.enrollments(member_id=person.member_id)
        by_course = {e["course_code"]: e["status"] for e in enrollments}
        out = Mismatches(f"lms.enrollments[{person.label}]")
        if cond.courses is not None and sorted(cond.courses) != sorted(by_course):
            out.lines.append(
                f"{out.prefix}: expected courses {sorted(cond.courses)}, observed {sorted(by_course)}"
            )
        out.count("count", cond.count, len(by_course))
        if cond.course is not None:
            if cond.absent and cond.course in by_course:
                out.lines.append(
                    f"{out.prefix}: expected no {cond.course} enrollment, observed {by_course[cond.course]}"
                )
            elif not cond.absent and cond.course not in by_course:
                out.lines.append(
                    f"{out.prefix}: expected {cond.course}, observed {sorted(by_course) or 'none'}"
                )
            elif not cond.absent:
                out.equal(f"{cond.course}.status", cond.status, by_course[cond.course])
        return out.lines, {"courses": dict(sorted(by_course.items()))}

    return _for_people(ctx, cond.actor, one)


def check_session(ctx: RunContext, cond: m.SessionCondition) -> Check:
    def one(person: Person) -> Check:
        status, me = ctx.agent(person).get_json(f"{ctx.tenant.lms_base}/me")
        signed_in = status == 200 and isinstance(me, dict) and me.get("member_id") == person.member_id
        out = Mismatches(f"lms.session[{person.label}]")
        out.equal("signed_in", cond.signed_in, signed_in)
        seen: dict[str, Any] = {"signed_in": signed_in}
        if signed_in:
            seen |= {
                key: me.get(key) for key in ("access", "member_status", "member_type", "protocol", "email")
            }
            for key in ("access", "member_status", "member_type", "protocol", "email"):
                out.equal(key, getattr(cond, key), me.get(key))
        return out.lines, seen

    return _for_people(ctx, cond.actor, one)


def check_transcript(ctx: RunContext, cond: m.TranscriptCondition) -> Check:
    def one(person: Person) -> Check:
        doc = ctx.tenant.transcript(person.member_id)
        codes = sorted(record["activity_code"] for record in doc["records"])
        totals = doc["totals"]["by_credit_type"]
        out = Mismatches(f"ams.transcript[{person.label}]")
        out.count("records", cond.records, len(doc["records"]))
        out.count("activities", cond.activities, len(doc["activity"]))
        for credit_type, expected in (cond.totals or {}).items():
            out.equal(f"totals.{credit_type}", expected, totals.get(credit_type, 0))
        if cond.codes is not None:
            out.equal("codes", sorted(cond.codes), codes)
        if cond.badges is not None:
            out.equal("badges", sorted(cond.badges), sorted(doc["badges"]))
        if cond.segments is not None:
            out.equal("segments", sorted(cond.segments), sorted(doc["segments"]))
        seen = {
            "records": len(doc["records"]),
            "codes": codes,
            "totals": totals,
            "activities": len(doc["activity"]),
        }
        return out.lines, seen

    return _for_people(ctx, cond.actor, one)


def _sent_records(ctx: RunContext, record_ids: set[str]) -> dict[str, Any]:
    """The records of these envelope ids as the LMS sent them, read from the console's outbox: an
    immediate rule's message id is the envelope id; a batch message carries envelopes in ``records``."""
    sent: dict[str, Any] = {}
    for topic in WRITEBACK_TOPICS:
        if record_ids <= sent.keys():
            break
        for item in ctx.tenant.outbox(topic=topic)["items"]:
            if topic == WRITEBACK_TOPICS[0] and item["message_id"] not in record_ids:
                continue
            payload = ctx.tenant.control("GET", f"/outbox/{item['id']}").get("payload") or {}
            for envelope in payload.get("records", [payload]) if isinstance(payload, dict) else []:
                if isinstance(envelope, dict) and envelope.get("id") in record_ids:
                    sent[envelope["id"]] = envelope.get("record")
    return sent


def check_record(ctx: RunContext, cond: m.RecordCondition) -> Check:
    def one(person: Person) -> Check:
        doc = ctx.tenant.transcript(person.member_id)
        stored = doc["records"] + doc["activity"]
        candidates = [
            record
            for record in stored
            if (cond.destination is None or record["destination"] == cond.destination)
            and (cond.activity_code is None or record["activity_code"] == cond.activity_code)
            and (cond.format is None or record["format"] == cond.format)
        ]
        sent = _sent_records(ctx, {r["record_id"] for r in candidates}) if cond.sent is not None else {}
        matching = [
            record
            for record in candidates
            if same(cond.value, record)
            and (cond.sent is None or same(cond.sent, sent.get(record["record_id"])))
        ]
        out = Mismatches(f"ams.record[{person.label}]")
        out.count("count", cond.count, len(matching))
        if out.lines and candidates and not matching:  # say which fields differ on the first candidate
            first = candidates[0]
            for key, expected in cond.value.items():
                out.equal(f"value.{key}", expected, first.get(key))
            for key, expected in (cond.sent or {}).items():
                out.equal(f"sent.{key}", expected, (sent.get(first["record_id"]) or {}).get(key))
        shapes = sorted({(r["destination"], r["format"]) for r in stored})
        seen: dict[str, Any] = {"matching": len(matching), "stored": [f"{d}/{f}" for d, f in shapes]}
        shown = matching or candidates
        if shown:
            keep = ("destination", "format", "activity_code", *RECORD_FIELDS)
            seen["record"] = {key: shown[0].get(key) for key in keep}
            if cond.sent is not None:
                seen["sent"] = sent.get(shown[0]["record_id"])
        return out.lines, seen

    return _for_people(ctx, cond.actor, one)


def check_member(ctx: RunContext, cond: m.MemberCondition) -> Check:
    def one(person: Person) -> Check:
        member = ctx.tenant.member(person.member_id)
        out = Mismatches(f"ams.member[{person.label}]")
        for key in ("status", "member_type", "record_type"):
            out.equal(key, getattr(cond, key), member.get(key))
        return out.lines, {
            key: member.get(key) for key in ("record_type", "member_type", "status", "expiry_date")
        }

    return _for_people(ctx, cond.actor, one)


def check_order(ctx: RunContext, cond: m.OrderCondition) -> Check:
    order = ctx.tenant.order(ctx.order_number(cond.order))
    out = Mismatches(f"order[{cond.order}]")
    out.equal("status", cond.status, order["status"])
    out.equal("channel", cond.channel, order["channel"])
    out.equal("total", cond.total, order["total"])
    out.equal("balance", cond.balance, order["amount_due"])
    out.equal("lines", cond.lines, len(order["lines"]))
    out.equal("price_class", cond.price_class, order.get("price_class"))
    if cond.entered_by is not None:
        out.equal("entered_by", ctx.one(cond.entered_by).member_id, order.get("entered_by"))
    keys = ("status", "channel", "price_class", "total", "amount_due", "paid_amount", "refunded_amount")
    seen = {key: order.get(key) for key in keys}
    return out.lines, seen


def check_ledger(ctx: RunContext, cond: m.LedgerCondition) -> Check:
    member_id = ctx.one(cond.actor).member_id if cond.actor else None
    number = ctx.order_number(cond.order) if cond.order else None
    ledger = ctx.tenant.ledger(member_id=member_id, order=number)
    out = Mismatches("ledger")
    for key in ("balanced", "amount_due", "net_sales"):
        out.equal(key, getattr(cond, key), ledger.get(key))
    return out.lines, ledger


CHECKS: dict[str, Callable[[RunContext, Any], Check]] = {
    "lms.enrollments": check_enrollments,
    "lms.session": check_session,
    "ams.transcript": check_transcript,
    "ams.record": check_record,
    "ams.member": check_member,
    "ams.inbox": expect_system.check_inbox,
    "outbox": expect_system.check_outbox,
    "journal": expect_system.check_journal,
    "order": check_order,
    "ledger": check_ledger,
    "faults": expect_system.check_faults,
    "processes": expect_system.check_processes,
}


def evaluate(ctx: RunContext, conditions: m.Conditions) -> Check:
    """Every condition's mismatches, and what each observed (keyed by condition name)."""
    mismatches: list[str] = []
    observed: dict[str, Any] = {}
    for name, condition in conditions.given():
        lines, seen = CHECKS[name](ctx, condition)
        mismatches += lines
        observed[name] = seen
    return mismatches, observed


@step("expect")
def expect(ctx: RunContext, params: m.Conditions) -> dict[str, Any]:
    mismatches, observed = evaluate(ctx, params)
    if mismatches:
        raise StepFailed("; ".join(mismatches), observed)
    return observed


@step("wait_for")
def wait_for(ctx: RunContext, params: m.WaitFor) -> dict[str, Any]:
    deadline = time.monotonic() + params.timeout
    polls = 0
    while True:
        polls += 1
        try:
            mismatches, observed = evaluate(ctx, params)
        except (httpx.HTTPError, ApiError) as exc:  # a part of the sandbox restarting: poll again
            if isinstance(exc, ApiError) and exc.status < 500:
                raise
            answer = (
                f"answered {exc.status}"
                if isinstance(exc, ApiError)
                else f"did not answer: {http_failure(exc)}"
            )
            mismatches, observed = [f"the sandbox {answer}"], {}
        if not mismatches:
            return observed
        if time.monotonic() >= deadline:
            raise StepFailed(
                f"still not true after {params.timeout:g} s ({polls} polls): " + "; ".join(mismatches),
                observed,
            )
        time.sleep(params.interval)
