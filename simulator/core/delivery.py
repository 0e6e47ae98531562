"""Outbox delivery: claim due messages, POST them signed, record each attempt, schedule retries.

Claiming is atomic: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE … WHERE id IN (…)`` in
one transaction, so several workers share the outbox without sending a message twice at once; on SQLite
the same two statements under the write lock (``BEGIN IMMEDIATE``), one worker being the supported shape.
A claim is a lease (wall time) held by one worker (``host:pid``): a worker killed mid-delivery leaves
``in_flight`` messages whose lease runs out, and the next pass claims them again, recording the unfinished
attempt as ``abandoned`` by the worker that held it (no status; attempts stay numbered 1, 2, … without a
gap). A worker that was only slow and answers after losing its lease fills in that abandoned attempt as
``superseded``. Receivers dedupe on ``webhook-id``, so such a re-delivery never doubles a record.

How an answer is judged (Standard Webhooks, "Retry schedule"; documented in docs/writeback.md):

- 2xx → ``delivered`` (per-record rejections inside a bulk 200 are the receiver's business, not ours);
- 410 Gone → the endpoint is disabled, the message (and everything else queued for it) is held;
- 400, 413, 422 → ``dead`` at once: the receiver refused these very bytes, a retry cannot succeed;
- anything else (429, 5xx, 401/403/404 while a receiver is being fixed, timeouts, resets) → retried on
  ``retry.schedule_seconds`` × ``time_scale`` ± ``jitter`` on the tenant's business clock, or later when
  ``Retry-After`` asks for longer; after the last one → ``dead``.

Due messages are registered as "due work" with :mod:`simulator.core.jobs`, so a clock advance delivers
what became due in time order with the due jobs, and the worker delivers in real time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from simulator.core.clock import tenant_now, wall_now
from simulator.core.db import Database
from simulator.core.http_failures import http_failure
from simulator.core.jobs import register_due_work
from simulator.core.models import Tenant
from simulator.core.outbox import next_retry_delay, retry_after_seconds
from simulator.core.outbox_models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from simulator.core.settings import RetryPolicy, TenantSettings
from simulator.core.tls import client_verify
from simulator.core.webhooks import sign_headers

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
CONCURRENCY = 8
SNIPPET_CHARS = 500
REJECTED_FOR_GOOD = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Claimed:
    pk: int
    tenant_id: str
    message_id: str
    topic: str
    body: bytes
    url: str
    secret: str
    endpoint_id: int
    attempt: int
    due_at: dt.datetime
    token: str
    worker: str


@dataclass
class Answer:
    status: int | None
    latency_ms: float
    snippet: str = ""
    error: str | None = None
    retry_after: str | None = None


def _claimable(tenant_id: str, until: dt.datetime) -> list[Any]:
    """Due, unleased messages of enabled endpoints. Stated as ``state IN (…) AND next_attempt_at <= until``
    so that ``ix_outbox_messages_due`` (tenant, state, next attempt) finds them without touching the
    delivered and dead messages, which pile up: the cost of a claim never grows with the outbox's history."""
    return [
        OutboxMessage.tenant_id == tenant_id,
        OutboxMessage.state.in_(("pending", "retrying", "in_flight")),
        OutboxMessage.next_attempt_at <= until,
        WebhookEndpoint.enabled.is_(True),
        or_(OutboxMessage.state != "in_flight", OutboxMessage.lease_until < wall_now()),
    ]


def next_due_message(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    """When the earliest claimable message of ``tenant_id`` became due (at or before ``until``)."""
    with db.read() as session:
        return session.scalar(
            select(func.min(OutboxMessage.next_attempt_at))
            .join(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
            .where(*_claimable(tenant_id, until))
        )


def this_worker() -> str:
    """This process as a worker id, ``host:pid``: who holds a claim and who made an attempt."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def lease_seconds(policy: RetryPolicy) -> float:
    """How long a claim holds: long enough for one request with its timeouts, short enough to recover."""
    return 3 * policy.timeout_seconds + 2


def claim_due_messages(
    db: Database, tenant_id: str, until: dt.datetime, limit: int = CLAIM_BATCH, worker: str | None = None
) -> tuple[list[Claimed], RetryPolicy]:
    """Atomically take up to ``limit`` due messages of ``tenant_id`` (earliest first) for ``worker``
    (default: :func:`this_worker`) to deliver.

    A message still ``in_flight`` under a lease that ran out is taken over: the attempt its worker left
    unfinished is recorded as ``abandoned`` by that worker, in the same transaction as the claim.
    """
    token = secrets.token_hex(12)
    worker = worker or this_worker()
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return [], RetryPolicy()
        policy = TenantSettings.model_validate(tenant.settings).retry
        due = (
            select(
                OutboxMessage.id,
                OutboxMessage.state,
                OutboxMessage.attempts,
                OutboxMessage.next_attempt_at,
                OutboxMessage.lease_until,
                OutboxMessage.claimed_by,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
            .where(*_claimable(tenant_id, until))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if not db.is_sqlite:  # the rows stay locked until the claim commits
            due = due.with_for_update(skip_locked=True, of=OutboxMessage)
        due_rows = session.execute(due).all()
        if not due_rows:
            return [], policy
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([row.id for row in due_rows]))
            .values(
                state="in_flight",
                claim_token=token,
                claimed_by=worker,
                lease_until=wall_now() + dt.timedelta(seconds=lease_seconds(policy)),
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        session.add_all(_abandoned_attempt(tenant_id, row) for row in due_rows if row.state == "in_flight")
        rows = session.execute(
            select(OutboxMessage, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
            .where(  # the state narrows the index to messages in flight: the token has no index
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.state == "in_flight",
                OutboxMessage.claim_token == token,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        ).all()
        claimed = [
            Claimed(
                pk=message.id,
                tenant_id=tenant_id,
                message_id=message.message_id,
                topic=message.topic,
                body=json.dumps(message.payload, separators=(",", ":")).encode(),
                url=endpoint.url,
                secret=endpoint.secret,
                endpoint_id=endpoint.id,
                attempt=message.attempts,
                due_at=message.next_attempt_at,
                token=token,
                worker=worker,
            )
            for message, endpoint in rows
        ]
    return claimed, policy


def _abandoned_attempt(tenant_id: str, message: Any) -> DeliveryAttempt:
    """The attempt a worker left unfinished: stamped when it was due, with no status and no latency."""
    holder = message.claimed_by or "unknown"
    lease_end = message.lease_until.isoformat(timespec="seconds") if message.lease_until else "?"
    return DeliveryAttempt(
        tenant_id=tenant_id,
        message_pk=message.id,
        number=message.attempts,
        attempted_at=message.next_attempt_at,
        status=None,
        latency_ms=None,
        response_snippet="",
        error=f"Worker {holder} stopped before finishing this attempt (its lease ran out at {lease_end}).",
        outcome="abandoned",
        worker=message.claimed_by,
    )


def post_message(client: httpx.Client, message: Claimed) -> Answer:
    """POST one message with Standard Webhooks headers; the message id doubles as idempotency key."""
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message.message_id,
        "User-Agent": f"ams-lms-sandbox-outbox (pid {os.getpid()})",  # which worker, in the receiver's log
        **sign_headers(message.secret, message.message_id, message.body),
    }
    started = time.perf_counter()
    try:
        response = client.post(message.url, content=message.body, headers=headers)
    except httpx.HTTPError as exc:
        latency = (time.perf_counter() - started) * 1000
        return Answer(None, latency, error=http_failure(exc))
    latency = (time.perf_counter() - started) * 1000
    return Answer(
        response.status_code,
        latency,
        snippet=response.text[:SNIPPET_CHARS],
        retry_after=response.headers.get("Retry-After"),
    )


def _judge(answer: Answer) -> str:
    if answer.status is None:
        return "retry"
    if 200 <= answer.status < 300:
        return "delivered"
    if answer.status == 410:
        return "gone"
    if answer.status in REJECTED_FOR_GOOD:
        return "rejected"
    return "retry"


def record_answer(
    session: Session, message: Claimed, answer: Answer, policy: RetryPolicy, attempted_at: dt.datetime
) -> str:
    """Store the attempt and move the message on; returns the outcome (delivered/retrying/dead/held)."""
    verdict = _judge(answer)
    row = session.get(OutboxMessage, message.pk)
    assert row is not None
    if row.claim_token != message.token:  # our lease ran out and another pass took it over
        verdict = "superseded"
    outcome = verdict
    if verdict == "delivered":
        row.state, row.delivered_at = "delivered", attempted_at
    elif verdict == "gone":
        endpoint = session.get(WebhookEndpoint, message.endpoint_id)
        assert endpoint is not None
        endpoint.enabled = False
        endpoint.disabled_reason = f"410 Gone from {message.url}"
        endpoint.disabled_at = wall_now()
        row.state, row.attempts, row.next_attempt_at = "pending", row.attempts - 1, attempted_at
        outcome = "held"
    elif verdict == "rejected":
        row.state, outcome = "dead", "dead"
    elif verdict == "retry":
        retry_after = retry_after_seconds(answer.retry_after)
        delay = next_retry_delay(policy, row.attempts, retry_after)
        if delay is None:
            row.state, outcome = "dead", "dead"
        else:
            row.state, outcome = "retrying", "retrying"
            row.next_attempt_at = attempted_at + dt.timedelta(seconds=delay)
    if verdict != "superseded":
        row.lease_until, row.claim_token, row.claimed_by = None, None, None
        row.last_status, row.last_error = answer.status, answer.error
    attempt = _abandoned_by(session, message) if verdict == "superseded" else None
    if attempt is None:
        attempt = DeliveryAttempt(tenant_id=row.tenant_id, message_pk=row.id, number=message.attempt)
        session.add(attempt)
    attempt.attempted_at, attempt.worker, attempt.outcome = attempted_at, message.worker, outcome
    attempt.status, attempt.latency_ms = answer.status, answer.latency_ms
    attempt.response_snippet, attempt.error = answer.snippet, answer.error
    return outcome


def _abandoned_by(session: Session, message: Claimed) -> DeliveryAttempt | None:
    """The attempt another claim recorded as abandoned when it took ``message`` over from its worker."""
    return session.scalar(
        select(DeliveryAttempt).where(
            DeliveryAttempt.message_pk == message.pk,
            DeliveryAttempt.number == message.attempt,
            DeliveryAttempt.outcome == "abandoned",
        )
    )


def _deliver_one(
    db: Database, client: httpx.Client, message: Claimed, policy: RetryPolicy, simulated: bool
) -> str:
    answer = post_message(client, message)
    with db.session() as session:
        if simulated:
            attempted_at = message.due_at
        else:
            tenant = session.get(Tenant, message.tenant_id)
            attempted_at = tenant_now(tenant) if tenant is not None else wall_now()
        return record_answer(session, message, answer, policy, attempted_at)


def deliver_due_messages(
    db: Database, tenant_id: str, until: dt.datetime, simulated: bool = False, worker: str | None = None
) -> dict[str, Any] | None:
    """Claim and deliver ``tenant_id``'s messages due by ``until``; None when nothing was claimed.

    ``simulated`` (a clock advance): each attempt is stamped with the business time the message became
    due, so retries land on the simulated timeline; else with the tenant's clock now. ``worker`` names
    who delivers (default: :func:`this_worker`).
    """
    claimed, policy = claim_due_messages(db, tenant_id, until, worker=worker)
    if not claimed:
        return None
    outcomes: dict[str, int] = {}
    with httpx.Client(timeout=policy.timeout_seconds, verify=client_verify()) as client:
        if len(claimed) == 1:
            results = [_deliver_one(db, client, claimed[0], policy, simulated)]
        else:
            with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(claimed))) as pool:
                results = list(
                    pool.map(lambda message: _deliver_one(db, client, message, policy, simulated), claimed)
                )
    for outcome in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "kind": "outbox.delivery",
        "due_at": claimed[0].due_at.isoformat(),
        "state": "done",
        "result": outcomes,
    }


register_due_work("outbox.delivery", next_due_message, deliver_due_messages)
