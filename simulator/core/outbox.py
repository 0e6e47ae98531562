"""The durable outbox: enqueue in the caller's transaction, endpoints, retry timing, listing and replay.

:func:`enqueue` only adds rows to the caller's session, so an event and its outgoing message commit
together (nothing lost, nothing doubled); the worker (:mod:`simulator.core.delivery`) sends them later.
Any feature that notifies another system — writeback, ``credit.recorded``, purchase notifications — uses
the same engine: register an endpoint, enqueue messages to it by name.

Example::

    with db.session() as session:
        session.add(event)
        enqueue(session, "demo", endpoint="ams-writeback", topic="writeback.records",
                message_id="wb_1f3c…", payload={"records": [...]})
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from simulator.core.clock import tenant_now, wall_now
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.outbox_models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from simulator.core.settings import ExternalEndpoint, RetryPolicy
from simulator.core.webhooks import new_secret

WRITEBACK_ENDPOINT = "ams-writeback"
EXTERNAL_ENDPOINT = "external"
MAX_RETRY_AFTER_SECONDS = 24 * 3600
LIST_LIMIT = 500


def endpoint_by_name(session: Session, tenant_id: str, name: str) -> WebhookEndpoint:
    endpoint = session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.name == name)
    )
    if endpoint is None:
        raise NotFound(f"Tenant '{tenant_id}' has no endpoint '{name}'.", code="endpoint_not_found")
    return endpoint


def add_endpoint(
    session: Session,
    tenant_id: str,
    name: str,
    url: str,
    *,
    purpose: str = "subscriber",
    secret: str | None = None,
    topics: list[str] | None = None,
) -> WebhookEndpoint:
    """Register an endpoint (its secret is generated unless given); names are unique per tenant."""
    exists = session.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.name == name)
    )
    if exists is not None:
        raise ValidationFailed(
            f"Tenant '{tenant_id}' already has an endpoint '{name}'.",
            errors=[{"field": "name", "message": "already taken"}],
        )
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        name=name,
        purpose=purpose,
        url=url,
        secret=secret or new_secret(),
        topics=topics or [],
        enabled=True,
        created_at=wall_now(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def sync_external_endpoint(session: Session, tenant_id: str, external: ExternalEndpoint) -> str:
    """Make the ``external`` endpoint match ``writeback.external_endpoint`` in settings; returns its name."""
    endpoint = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.name == EXTERNAL_ENDPOINT
        )
    )
    if endpoint is None:
        add_endpoint(
            session, tenant_id, EXTERNAL_ENDPOINT, external.url, purpose="external", secret=external.secret
        )
    elif (endpoint.url, endpoint.secret) != (external.url, external.secret):
        endpoint.url, endpoint.secret = external.url, external.secret
    return EXTERNAL_ENDPOINT


def set_endpoint_enabled(
    session: Session, tenant_id: str, name: str, enabled: bool, reason: str | None = None
) -> WebhookEndpoint:
    endpoint = endpoint_by_name(session, tenant_id, name)
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else (reason or "disabled by an operator")
    endpoint.disabled_at = None if enabled else wall_now()
    return endpoint


def enqueue(
    session: Session,
    tenant_id: str,
    *,
    endpoint: str,
    topic: str,
    message_id: str,
    payload: Any,
    deliver_after: dt.datetime | None = None,
) -> OutboxMessage:
    """Add a message to ``endpoint`` (by name) in the caller's transaction, due at ``deliver_after``.

    ``deliver_after`` is business time (default: the tenant's clock now). ``message_id`` becomes the
    ``webhook-id`` header, so it must be stable for the fact it describes (receivers dedupe on it).
    """
    target = endpoint_by_name(session, tenant_id, endpoint)
    if deliver_after is None:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        deliver_after = tenant_now(tenant)
    message = OutboxMessage(
        tenant_id=tenant_id,
        endpoint_id=target.id,
        message_id=message_id,
        topic=topic,
        payload=payload,
        state="pending",
        attempts=0,
        next_attempt_at=deliver_after,
        created_at=wall_now(),
    )
    session.add(message)
    return message


def enqueue_many(
    session: Session,
    tenant_id: str,
    *,
    endpoint: str,
    topic: str,
    messages: list[tuple[str, Any]],
    deliver_after: dt.datetime,
) -> None:
    """:func:`enqueue` for many ``(message_id, payload)`` at once: the endpoint is looked up once and the
    rows are written with one executemany (a bulk of writeback records makes one message per record)."""
    if not messages:
        return
    target = endpoint_by_name(session, tenant_id, endpoint)
    created_at = wall_now()
    session.execute(
        insert(OutboxMessage),
        [
            {
                "tenant_id": tenant_id,
                "endpoint_id": target.id,
                "message_id": message_id,
                "topic": topic,
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": deliver_after,
                "created_at": created_at,
            }
            for message_id, payload in messages
        ],
    )


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = (when - (now or wall_now())).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


def next_retry_delay(
    policy: RetryPolicy,
    attempts_made: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after the ``attempts_made``-th failed attempt, or None when no retry is left.

    The delay is ``schedule_seconds[attempts_made] × time_scale``, varied by ± ``jitter`` (a fraction);
    a ``Retry-After`` that asks for longer wins (scaled the same way, so tests stay fast).
    """
    if attempts_made >= len(policy.schedule_seconds):
        return None
    base = policy.schedule_seconds[attempts_made] * policy.time_scale
    spread = (rng or random).uniform(-policy.jitter, policy.jitter)
    delay = max(0.0, base * (1.0 + spread))
    if retry_after is not None:
        delay = max(delay, retry_after * policy.time_scale)
    return delay


def message_json(message: OutboxMessage, endpoint: WebhookEndpoint | None = None) -> dict[str, Any]:
    return {
        "id": message.id,
        "message_id": message.message_id,
        "topic": message.topic,
        "endpoint": endpoint.name if endpoint else None,
        "state": message.state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat(),
        "last_status": message.last_status,
        "last_error": message.last_error,
        "created_at": message.created_at.isoformat(),
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
        "held": bool(endpoint and not endpoint.enabled),
    }


def attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    """One attempt; an ``abandoned`` one has no status and no latency, and its error names the worker."""
    return {
        "number": attempt.number,
        "attempted_at": attempt.attempted_at.isoformat(),
        "worker": attempt.worker,
        "status": attempt.status,
        "latency_ms": None if attempt.latency_ms is None else round(attempt.latency_ms, 2),
        "outcome": attempt.outcome,
        "error": attempt.error,
        "response_snippet": attempt.response_snippet,
    }


def attempt_summary(attempt: DeliveryAttempt) -> dict[str, Any]:
    """The short form of an attempt that listings carry: number, outcome, status, worker."""
    return {
        "number": attempt.number,
        "outcome": attempt.outcome,
        "status": attempt.status,
        "worker": attempt.worker,
    }


def _attempt_histories(session: Session, message_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The attempts of each message in ``message_pks`` in the order they were made (one query)."""
    histories: dict[int, list[dict[str, Any]]] = {pk: [] for pk in message_pks}
    if message_pks:
        attempts = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_pk.in_(message_pks))
            .order_by(DeliveryAttempt.message_pk, DeliveryAttempt.id)
        )
        for attempt in attempts:
            histories[attempt.message_pk].append(attempt_summary(attempt))
    return histories


def list_messages(
    session: Session,
    tenant_id: str,
    state: str | None = None,
    topic: str | None = None,
    since: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Messages oldest first after ``since`` (a message id), each with its attempt history (number,
    outcome, status, worker), and counts per state."""
    query = (
        select(OutboxMessage, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
        .where(OutboxMessage.tenant_id == tenant_id)
    )
    if state:
        query = query.where(OutboxMessage.state == state)
    if topic:
        query = query.where(OutboxMessage.topic == topic)
    if since:
        query = query.where(OutboxMessage.id > since)
    rows = session.execute(query.order_by(OutboxMessage.id).limit(min(limit, LIST_LIMIT))).all()
    counts = dict(
        session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.tenant_id == tenant_id)
            .group_by(OutboxMessage.state)
        ).all()
    )
    histories = _attempt_histories(session, [message.id for message, _ in rows])
    items = [
        {**message_json(message, endpoint), "attempt_history": histories[message.id]}
        for message, endpoint in rows
    ]
    return {
        "items": items,
        "counts": counts,
        "next_since": items[-1]["id"] if items else since,
    }


def get_message(session: Session, tenant_id: str, message_pk: int) -> dict[str, Any]:
    message = session.get(OutboxMessage, message_pk)
    if message is None or message.tenant_id != tenant_id:
        raise NotFound(f"Tenant '{tenant_id}' has no outbox message {message_pk}.", code="message_not_found")
    endpoint = session.get(WebhookEndpoint, message.endpoint_id)
    attempts = session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.message_pk == message.id).order_by(DeliveryAttempt.id)
    )
    return {
        **message_json(message, endpoint),
        "payload": message.payload,
        "attempts": [attempt_json(attempt) for attempt in attempts],
    }


def replay(session: Session, tenant_id: str, message_pks: list[int] | None = None) -> int:
    """Send dead messages again from the start of the schedule (``None``: every dead letter of the tenant).

    Replaying a delivered or waiting message is refused: it is already on its way (or there).
    """
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    conditions = [OutboxMessage.tenant_id == tenant_id]
    if message_pks is not None:
        for pk in message_pks:
            state = session.scalar(select(OutboxMessage.state).where(*conditions, OutboxMessage.id == pk))
            if state is None:
                raise NotFound(f"Tenant '{tenant_id}' has no outbox message {pk}.", code="message_not_found")
            if state != "dead":
                raise ValidationFailed(
                    f"Message {pk} is {state}; only dead letters are replayed.",
                    code="not_a_dead_letter",
                    errors=[{"field": "id", "message": f"state is {state}"}],
                )
        conditions.append(OutboxMessage.id.in_(message_pks))
    result = session.execute(
        update(OutboxMessage)
        .where(*conditions, OutboxMessage.state == "dead")
        .values(
            state="pending",
            attempts=0,
            next_attempt_at=tenant_now(tenant),
            lease_until=None,
            claim_token=None,
        )
    )
    return result.rowcount


ACTIVITY_MAX_BUCKETS = 25
ACTIVITY_MIN_SPAN = dt.timedelta(hours=1)
ACTIVITY_BUCKET_SECONDS = tuple(
    60 * m for m in (1, 5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200)
)
"""Bucket widths of :func:`delivery_activity`: 1, 5, 15, 30 min; 1, 2, 3, 6, 12 h; 1, 2, 7, 30 days."""
DELIVERED_OUTCOMES = frozenset({"delivered"})
FAILED_OUTCOMES = frozenset({"retrying", "dead", "held", "abandoned"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _activity_buckets(since: dt.datetime, now: dt.datetime) -> tuple[int, int, int]:
    """``(width, first, count)``: the narrowest width of :data:`ACTIVITY_BUCKET_SECONDS` whose buckets
    (``first`` is the index of the first since the epoch) cover ``since`` … ``now`` in at most
    :data:`ACTIVITY_MAX_BUCKETS`; the widest one's last buckets if none does."""
    for width in ACTIVITY_BUCKET_SECONDS:
        first = int((since - _EPOCH).total_seconds() // width)
        count = int((now - _EPOCH).total_seconds() // width) - first + 1
        if count <= ACTIVITY_MAX_BUCKETS:
            return width, first, count
    width = ACTIVITY_BUCKET_SECONDS[-1]
    last = int((now - _EPOCH).total_seconds() // width)
    return width, last - ACTIVITY_MAX_BUCKETS + 1, ACTIVITY_MAX_BUCKETS


def delivery_activity(session: Session, tenant_id: str, hours: int | None = None) -> dict[str, Any]:
    """Delivery attempts per time bucket on the tenant's business clock: how many delivered, how many failed.

    The window ends at the tenant's business time now and starts ``hours`` before it, or (``None``) at the
    first attempt the tenant ever made, at least an hour before now. Buckets are 1 min … 30 days wide, the
    narrowest that covers the window in at most :data:`ACTIVITY_MAX_BUCKETS`, and start on multiples of
    their width since the Unix epoch (an hour bucket starts on the hour, UTC); the last one holds now.
    *Delivered* counts attempts answered 2xx; *failed* counts attempts that are retried, died, were held by
    a 410 or abandoned by a stopped worker. A ``superseded`` attempt (a slow worker's late answer to a
    message another claim had taken over) is in neither. Reading it visits the tenant's attempts in the
    window (no index orders them by time): a console page's cost, not a delivery's.

    Example::

        delivery_activity(session, "acme", hours=24)
        # {"now": "…T10:41:07+00:00", "start": "…T10:00:00+00:00", "end": "…T11:00:00+00:00",
        #  "bucket_seconds": 3600, "delivered": 5, "failed": 2,
        #  "buckets": [{"start": "…T10:00:00+00:00", "delivered": 0, "failed": 0}, …]}
    """
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    now = tenant_now(tenant)
    if hours is not None:
        since = now - dt.timedelta(hours=hours)
    else:
        first_attempt = session.scalar(
            select(func.min(DeliveryAttempt.attempted_at)).where(DeliveryAttempt.tenant_id == tenant_id)
        )
        since = min(first_attempt or now, now - ACTIVITY_MIN_SPAN)
    width, first, count = _activity_buckets(since, now)
    start = _EPOCH + dt.timedelta(seconds=first * width)
    end = start + dt.timedelta(seconds=count * width)
    delivered, failed = [0] * count, [0] * count
    attempts = session.execute(
        select(DeliveryAttempt.attempted_at, DeliveryAttempt.outcome).where(
            DeliveryAttempt.tenant_id == tenant_id,
            DeliveryAttempt.attempted_at >= start,
            DeliveryAttempt.attempted_at < end,
        )
    )
    for attempted_at, outcome in attempts:
        index = int((attempted_at - start).total_seconds() // width)
        if outcome in DELIVERED_OUTCOMES:
            delivered[index] += 1
        elif outcome in FAILED_OUTCOMES:
            failed[index] += 1
    return {
        "now": now.isoformat(),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket_seconds": width,
        "delivered": sum(delivered),
        "failed": sum(failed),
        "buckets": [
            {
                "start": (start + dt.timedelta(seconds=index * width)).isoformat(),
                "delivered": delivered[index],
                "failed": failed[index],
            }
            for index in range(count)
        ],
    }


def endpoint_json(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict[str, Any]:
    body = {
        "name": endpoint.name,
        "purpose": endpoint.purpose,
        "url": endpoint.url,
        "topics": endpoint.topics,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


def list_endpoints(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id).order_by(WebhookEndpoint.id)
    )
    return [endpoint_json(endpoint) for endpoint in endpoints]


_SUBSCRIBERS = select(WebhookEndpoint.name, WebhookEndpoint.topics).where(
    WebhookEndpoint.tenant_id == bindparam("tenant_id"),
    WebhookEndpoint.purpose == "subscriber",
    WebhookEndpoint.enabled.is_(True),
)
"""Built once: it runs on every delivery of CE credits to the inbox."""


def subscriber_endpoints(session: Session, tenant_id: str, topic: str) -> list[str]:
    """Names of the tenant's enabled subscriber endpoints that take ``topic`` (no topics: every topic)."""
    endpoints = session.connection().execute(_SUBSCRIBERS, {"tenant_id": tenant_id}).all()
    return [name for name, topics in endpoints if not topics or topic in topics]
