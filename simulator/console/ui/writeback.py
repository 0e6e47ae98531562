"""Console pages: a tenant's writeback — the outbox (counts per state, the messages filtered by state and
topic, the dead letters with replay buttons), a chart of deliveries and failures over time, and what the
AMS inbox made of the records (stored, duplicate, rejected with the reason); and one message's page with
its payload and every delivery attempt.

Each page reads what ``GET /api/tenants/{t}/outbox…`` and ``GET /t/{t}/api/writeback/inbox`` return,
through the same services (:mod:`simulator.core.outbox`, :mod:`simulator.ams.writeback.transcript`),
checked by the same query models; the replay buttons call :func:`simulator.core.outbox.replay`, as
``POST /api/tenants/{t}/outbox/{id}/replay`` and ``…/outbox/replay-dead`` do.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from simulator.ams.writeback.transcript import inbox_counts, list_inbox
from simulator.ams.writeback.views import InboxQuery
from simulator.console.outbox_api import OutboxQuery
from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import sandbox_error_fields, validate_form
from simulator.core import outbox
from simulator.core.db import INT64_MAX
from simulator.core.errors import ValidationFailed
from simulator.core.outbox_models import MESSAGE_STATES
from simulator.core.web import database

PAGE_SIZE = 100
WAITING_STATES = ("pending", "retrying", "in_flight")
INBOX_RESULTS = (("accepted", "stored"), ("duplicate", "duplicate"), ("rejected", "rejected or refused"))

CHART_WIDTH, CHART_HEIGHT = 720, 250
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 52, 708, 28, 200
MAX_X_LABELS = 8


def _when(value: str | dt.datetime | None) -> str:
    """A stored time as people read it: ``2026-03-01 15:30:05 UTC``."""
    if value is None:
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: int) -> str:
    """``3600`` → ``1 hour``; the bucket widths of :func:`simulator.core.outbox.delivery_activity`."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1): the top of the chart's axis."""
    top = magnitude = 1
    while top < value:
        leading = top // magnitude
        if leading == 5:
            top = magnitude = magnitude * 10
        else:
            top = (2 if leading == 1 else 5) * magnitude
    return top


def activity_chart(activity: dict[str, Any]) -> dict[str, Any]:
    """The SVG geometry of the deliveries-and-failures chart: a delivered and a failed bar per bucket,
    the y axis (attempts) with its ticks, and a label under every few buckets."""
    buckets = activity["buckets"]
    width = activity["bucket_seconds"]
    top = _nice_ceiling(max([b["delivered"] for b in buckets] + [b["failed"] for b in buckets] + [1]))
    step = 1 if top <= 5 else top // 5
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(buckets)
    bar = slot * 0.38

    def y(count: int) -> float:
        return round(PLOT_BOTTOM - count / top * plot_height, 1)

    label_every = math.ceil(len(buckets) / MAX_X_LABELS)
    day_wide = width >= 86400
    bars, labels, last_day = [], [], None
    for index, bucket in enumerate(buckets):
        start = dt.datetime.fromisoformat(bucket["start"])
        end = start + dt.timedelta(seconds=width)
        x = PLOT_LEFT + index * slot + slot * 0.12
        span = f"{_when(start)} to {_when(end)}"
        for offset, kind in ((0.0, "delivered"), (bar, "failed")):
            count = bucket[kind]
            bars.append(
                {
                    "kind": kind,
                    "x": round(x + offset, 1),
                    "y": y(count),
                    "width": round(bar, 1),
                    "height": round(PLOT_BOTTOM - y(count), 1),
                    "title": f"{span}: {count} {kind}",
                }
            )
        if index % label_every == 0:
            day = start.strftime("%Y-%m-%d")
            labels.append(
                {
                    "x": round(PLOT_LEFT + index * slot + slot / 2, 1),
                    "text": start.strftime("%Y-%m-%d" if day_wide else "%H:%M"),
                    "day": None if day_wide or day == last_day else day,
                }
            )
            last_day = day
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": PLOT_LEFT,
        "right": PLOT_RIGHT,
        "top": PLOT_TOP,
        "bottom": PLOT_BOTTOM,
        "bars": bars,
        "labels": labels,
        "ticks": [{"y": y(value), "value": value} for value in range(0, top + 1, step)],
        "bucket": _duration(width),
        "rows": [{**bucket, "label": _when(bucket["start"])} for bucket in buckets],
    }


def _outbox_listing(tenant_id: str, args: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    query, errors = validate_form(
        OutboxQuery, {"state": args.get("state"), "topic": args.get("topic"), "since": args.get("since")}
    )
    with database().read() as session:
        if query is None:  # the counts only
            return outbox.list_messages(session, tenant_id, limit=0), errors
        return outbox.list_messages(
            session, tenant_id, query.state, query.topic, query.since, PAGE_SIZE
        ), errors


def _inbox_listing(tenant_id: str, args: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The inbox page asked for; ``since`` is ``inbox_since`` on this page (``since`` pages the outbox)."""
    query, errors = validate_form(
        InboxQuery, {"result": args.get("result"), "since": args.get("inbox_since")}
    )
    with database().read() as session:
        if query is not None:
            try:
                return list_inbox(session, tenant_id, query.result, query.since, PAGE_SIZE), {}
            except ValidationFailed as error:
                errors = sandbox_error_fields(error)
        counts = inbox_counts(session, tenant_id)
    return {"items": [], "counts": counts, "next_since": None}, {
        ("inbox_since" if field == "since" else field): message for field, message in errors.items()
    }


@ui.get("/tenants/<tenant>/writeback", endpoint="writeback")
@signed_in
def writeback_page(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    args = request.args.to_dict()
    listing, errors = _outbox_listing(tenant, args)
    inbox, inbox_errors = _inbox_listing(tenant, args)
    with database().read() as session:
        dead = outbox.list_messages(session, tenant, "dead", limit=PAGE_SIZE)
        activity = outbox.delivery_activity(session, tenant)
    page = render_template(
        "ui/writeback.html",
        title=f"Writeback · {tenant}",
        tenant=tenant_row,
        args=args,
        errors={**errors, **inbox_errors},
        states=MESSAGE_STATES,
        waiting_states=WAITING_STATES,
        counts={state: listing["counts"].get(state, 0) for state in MESSAGE_STATES},
        listing=listing,
        more_messages=len(listing["items"]) == PAGE_SIZE,
        dead=dead["items"],
        activity=activity,
        chart=activity_chart(activity),
        inbox=inbox,
        inbox_items=list(reversed(inbox["items"])),
        inbox_results=INBOX_RESULTS,
        more_inbox=len(inbox["items"]) == PAGE_SIZE,
        when=_when,
    )
    return page, 422 if errors or inbox_errors else 200


def _message_pk(message_id: int) -> int:
    if message_id > INT64_MAX:  # no such row, and more than the database can compare
        abort(404)
    return message_id


@ui.get("/tenants/<tenant>/writeback/messages/<int:message_id>", endpoint="writeback_message")
@signed_in
def message_page(tenant: str, message_id: int) -> Any:
    tenant_row = page_tenant(tenant)
    with database().read() as session:
        message = outbox.get_message(session, tenant, _message_pk(message_id))
        urls = {endpoint["name"]: endpoint["url"] for endpoint in outbox.list_endpoints(session, tenant)}
    attempts = message["attempts"]
    for attempt, following in zip(attempts, [*attempts[1:], None], strict=True):
        if attempt["outcome"] != "retrying":
            attempt["next_try"] = None
        elif following is not None:
            attempt["next_try"] = _when(following["attempted_at"])
        else:
            attempt["next_try"] = _when(message["next_attempt_at"]) + " (due)"
    return render_template(
        "ui/writeback_message.html",
        title=f"Message {message_id} · {tenant}",
        tenant=tenant_row,
        message=message,
        endpoint_url=urls.get(message["endpoint"]),
        payload=json.dumps(message["payload"], indent=2, ensure_ascii=False),
        waiting=message["state"] in WAITING_STATES,
        when=_when,
    )


def _queued(count: int) -> str:
    if count == 0:
        return "There were no dead letters to replay: nothing was queued."
    return f"{count} dead letter{'' if count == 1 else 's'} queued for delivery again."


@ui.post("/tenants/<tenant>/writeback/messages/<int:message_id>/replay", endpoint="writeback_replay")
@signed_in
def replay_message(tenant: str, message_id: int) -> Any:
    page_tenant(tenant)
    pk = _message_pk(message_id)
    try:
        with database().session() as session:
            replayed = outbox.replay(session, tenant, [pk])
    except ValidationFailed as error:
        flash(f"Not replayed: {error.message}", "error")
    else:
        flash(_queued(replayed))
    if request.form.get("return_to") == "message":
        return redirect(url_for("ui.writeback_message", tenant=tenant, message_id=pk), code=303)
    return redirect(url_for("ui.writeback", tenant=tenant), code=303)


@ui.post("/tenants/<tenant>/writeback/replay-dead", endpoint="writeback_replay_dead")
@signed_in
def replay_dead(tenant: str) -> Any:
    page_tenant(tenant)
    with database().session() as session:
        replayed = outbox.replay(session, tenant)
    flash(_queued(replayed))
    return redirect(url_for("ui.writeback", tenant=tenant), code=303)
