"""LMS writeback: learning events → rules → rendered envelopes → outbox (immediate) or held (batch).

Wire contract (docs/writeback.md): one **envelope** per (rule, event)::

    {"id": "wb_…", "rule": "ce-credits", "trigger": "credits.awarded", "destination": "ce_transcript",
     "format": "ce_credit", "member_id": "M000123", "occurred_at": "2026-03-01T15:30:00+00:00",
     "record": {…rendered by the value format…}}

``id`` is derived from tenant, rule and event, so it is stable: it is the idempotency key (and, for a
single record, the ``webhook-id``). Immediate rules POST one envelope per message; batch rules hold
envelopes until the rule's window on the business clock, then POST ``{"records": [...]}`` in bundles of
at most ``writeback.batch_max_size``. Every write here happens in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from simulator.core.jobs import JobContext, daily_at, job, schedule_job
from simulator.core.outbox import WRITEBACK_ENDPOINT, enqueue, sync_external_endpoint
from simulator.core.settings import BatchSchedule, TenantSettings, WritebackRule
from simulator.core.value_formats import format_name, render_format
from simulator.lms.learning.models import HeldWriteback

log = logging.getLogger(__name__)

BATCH_JOB = "lms.writeback_batch"
SINGLE_TOPIC = "writeback.record"
BULK_TOPIC = "writeback.batch"
SCHEDULED_WINDOWS = "lms.writeback.scheduled_windows"
"""``Session.info`` key: (transaction, the batch windows it scheduled)."""
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def envelope_id(tenant_id: str, rule: str, event_id: str) -> str:
    """The stable id of the envelope for (rule, event): the receiver's idempotency key."""
    return "wb_" + hashlib.sha256(f"{tenant_id}|{rule}|{event_id}".encode()).hexdigest()[:32]


def bundle_id(envelope_ids: list[str]) -> str:
    """The stable message id of a bulk message: derived from the envelopes it carries."""
    return "wbb_" + hashlib.sha256("|".join(envelope_ids).encode()).hexdigest()[:32]


def next_window(schedule: BatchSchedule, after: dt.datetime, settings: TenantSettings) -> dt.datetime:
    """The first batch window strictly after ``after`` (hourly at :MM, nightly or weekly at HH:MM local)."""
    hour, minute = (int(part) for part in schedule.at.split(":"))
    if schedule.every == "nightly":
        return daily_at(hour, minute)(after, settings)
    local = after.astimezone(settings.zone)
    if schedule.every == "hourly":
        candidate = local.replace(minute=minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += dt.timedelta(hours=1)
        return candidate.astimezone(dt.UTC)
    days_ahead = (WEEKDAYS.index(schedule.weekday) - local.weekday()) % 7
    candidate = (local + dt.timedelta(days=days_ahead)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    if candidate <= local:
        candidate = (candidate + dt.timedelta(days=7)).replace(hour=hour, minute=minute)
    return candidate.astimezone(dt.UTC)


def writeback_endpoint(session: Session, tenant_id: str, settings: TenantSettings) -> str:
    """The endpoint writebacks go to: the external receiver when one is configured, else our AMS."""
    external = settings.writeback.external_endpoint
    return sync_external_endpoint(session, tenant_id, external) if external else WRITEBACK_ENDPOINT


def build_envelope(tenant_id: str, rule: WritebackRule, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": envelope_id(tenant_id, rule.name, context["event_id"]),
        "rule": rule.name,
        "trigger": context["trigger"],
        "destination": rule.destination,
        "format": format_name(rule.value_format),
        "member_id": context["member_id"],
        "occurred_at": context["occurred_at"],
        "record": render_format(rule.value_format, context),
    }


def route_event(
    session: Session, tenant_id: str, settings: TenantSettings, context: dict[str, Any], now: dt.datetime
) -> int:
    """Queue the envelopes of every enabled rule on the event's trigger; returns how many were queued.

    A rule whose template cannot render this event (e.g. arithmetic on a missing score) is skipped and
    logged: one bad rule never stops the learner's activity or the other rules.
    """
    queued = 0
    endpoint: str | None = None
    for rule in settings.writeback.rules:
        if not rule.enabled or rule.trigger != context["trigger"]:
            continue
        try:
            envelope = build_envelope(tenant_id, rule, context)
        except ValueError:
            log.warning(
                "rule %s of tenant %s could not render event %s",
                rule.name,
                tenant_id,
                context["event_id"],
                exc_info=True,
            )
            continue
        if rule.mode == "immediate":
            endpoint = endpoint or writeback_endpoint(session, tenant_id, settings)
            enqueue(
                session,
                tenant_id,
                endpoint=endpoint,
                topic=SINGLE_TOPIC,
                message_id=envelope["id"],
                payload=envelope,
                deliver_after=now,
            )
        else:
            assert rule.schedule is not None
            due = next_window(rule.schedule, now, settings)
            session.add(
                HeldWriteback(
                    tenant_id=tenant_id,
                    envelope_id=envelope["id"],
                    rule=rule.name,
                    due_at=due,
                    envelope=envelope,
                )
            )
            _schedule_window(session, tenant_id, rule.name, due)
        queued += 1
    return queued


def _schedule_window(session: Session, tenant_id: str, rule: str, due: dt.datetime) -> None:
    """Make sure the rule's batch job for the window at ``due`` exists (one job per rule and window).

    A transaction that holds many records for one window (a bulk import, a busy webinar) schedules it
    once: the windows scheduled by the current transaction are remembered on the session, and a
    savepoint (whose rollback could undo the job) always schedules again.
    """
    key = f"{BATCH_JOB}:{rule}@{due.isoformat()}"
    transaction = session.get_transaction()
    remembered = session.info.get(SCHEDULED_WINDOWS)
    if remembered is None or remembered[0] is not transaction:
        remembered = session.info[SCHEDULED_WINDOWS] = (transaction, set())
    if (tenant_id, key) in remembered[1]:
        return
    schedule_job(session, tenant_id, BATCH_JOB, due, {"rule": rule}, dedupe_key=key)
    if not session.in_nested_transaction():
        remembered[1].add((tenant_id, key))


@job(BATCH_JOB)
def send_batch(ctx: JobContext) -> dict[str, Any]:
    """A batch window: bundle the rule's waiting envelopes into bulk messages of ≤ ``batch_max_size``."""
    rule = ctx.job.payload.get("rule", "")
    held = ctx.session.execute(
        select(HeldWriteback.pk, HeldWriteback.envelope_id, HeldWriteback.envelope)
        .where(
            HeldWriteback.tenant_id == ctx.tenant.id,
            HeldWriteback.rule == rule,
            HeldWriteback.due_at <= ctx.now,
        )
        .order_by(HeldWriteback.pk)
    ).all()
    if not held:
        return {"rule": rule, "records": 0, "messages": 0}
    endpoint = writeback_endpoint(ctx.session, ctx.tenant.id, ctx.settings)
    size = ctx.settings.writeback.batch_max_size
    messages = 0
    for start in range(0, len(held), size):
        chunk = held[start : start + size]
        enqueue(
            ctx.session,
            ctx.tenant.id,
            endpoint=endpoint,
            topic=BULK_TOPIC,
            message_id=bundle_id([row.envelope_id for row in chunk]),
            payload={"records": [row.envelope for row in chunk]},
            deliver_after=ctx.now,
        )
        messages += 1
    pks = [row.pk for row in held]
    for start in range(0, len(pks), 10_000):
        ctx.session.execute(delete(HeldWriteback).where(HeldWriteback.pk.in_(pks[start : start + 10_000])))
    return {"rule": rule, "records": len(held), "messages": messages}
