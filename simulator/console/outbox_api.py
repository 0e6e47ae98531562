"""Control API for the signed webhook channels: the outbox (messages by state, attempts, replay of dead
letters, deliveries and failures over time), its endpoints, and the secrets the AMS writeback inbox trusts.

``/api/tenants/{t}/outbox…``, ``/api/tenants/{t}/endpoints…`` and ``/api/tenants/{t}/writeback/inbox-
secrets`` (admin key or the tenant's key). Views only translate HTTP; the services are in
:mod:`simulator.core.outbox` and :mod:`simulator.ams.writeback.inbox`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.ams.writeback.inbox import add_inbox_secret
from simulator.console import writeback_setup
from simulator.core import outbox
from simulator.core.db import INT64_MAX
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    app_state,
    authorized_tenant_id,
    created,
    database,
)
from simulator.core.webhooks import new_secret

outbox_tag = Tag(
    name="outbox", description="Outgoing signed webhooks: delivery state, attempts, dead letters"
)
outbox_api = APIBlueprint(
    "outbox",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
)
MessageState = Literal["pending", "in_flight", "delivered", "retrying", "dead"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutboxQuery(RequestParameters, _Strict):
    state: MessageState | None = None
    topic: str | None = Field(None, max_length=80)
    since: int | None = Field(None, ge=0, le=INT64_MAX, description="Return messages after this id.")
    limit: int = Field(100, ge=1, le=500)


class MessagePath(TenantPath):
    message_id: int = Field(
        ..., ge=1, le=2**63 - 1, description="The message's numeric id (`id` in listings)."
    )


class EndpointPath(TenantPath):
    name: str = Field(..., max_length=80)


class EndpointCreate(_Strict):
    name: str = Field(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(..., pattern=r"^https?://", max_length=2000)
    topics: list[str] = Field(default_factory=list, description="Topics it takes (empty: all).")
    secret: str | None = Field(
        None, pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$", description="Default: generated."
    )


class DisableBody(_Strict):
    reason: str | None = Field(None, max_length=500)


class ReplayResult(BaseModel):
    replayed: int


class _MessageFields(BaseModel):
    id: int = Field(..., description="The message's numeric id (page with `since`).")
    message_id: str = Field(..., description="Its `webhook-id` header: receivers dedupe on it.")
    topic: str
    endpoint: str | None = Field(..., description="The name of the endpoint it goes to.")
    state: MessageState
    next_attempt_at: dt.datetime = Field(..., description="When the worker tries next (business time).")
    last_status: int | None = Field(..., description="HTTP status of the last attempt.")
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    held: bool = Field(..., description="Its endpoint is disabled: it waits, unsent, until enabled.")


class AttemptSummary(BaseModel):
    number: int
    outcome: str = Field(..., description="delivered, retrying, dead, held, abandoned or superseded.")
    status: int | None = Field(..., description="HTTP status; null when no answer came.")
    worker: str | None = Field(..., description="The delivery worker that made the attempt.")


class OutboxMessage(_MessageFields):
    attempts: int = Field(..., description="Delivery attempts made so far.")
    attempt_history: list[AttemptSummary] = Field(..., description="Its attempts, oldest first.")


class OutboxPage(BaseModel):
    items: list[OutboxMessage]
    counts: dict[str, int] = Field(..., description="Messages of the tenant per state (all of them).")
    next_since: int | None = Field(..., description="Pass as `since` for the next page.")


class DeliveryAttempt(BaseModel):
    number: int
    attempted_at: dt.datetime
    worker: str | None
    status: int | None = Field(..., description="HTTP status; null when no answer came (or abandoned).")
    latency_ms: float | None
    outcome: str = Field(..., description="delivered, retrying, dead, held, abandoned or superseded.")
    error: str | None
    response_snippet: str = Field(..., description="The start of the receiver's answer.")


class OutboxMessageDetail(_MessageFields):
    """A message with its payload and every delivery attempt."""

    payload: Any = Field(..., description="The JSON body sent (the topic decides its shape).")
    attempts: list[DeliveryAttempt]


class WebhookEndpoint(BaseModel):
    name: str
    purpose: str = Field(..., description="subscriber, writeback or external.")
    url: str
    topics: list[str] = Field(..., description="Topics it takes (empty: all).")
    enabled: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | None


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(..., description="`whsec_…`: the signing secret, shown only here.")


class WebhookEndpointList(BaseModel):
    endpoints: list[WebhookEndpoint]


class ActivityQuery(RequestParameters, _Strict):
    hours: int | None = Field(
        None,
        ge=1,
        le=24 * 366 * 10,
        description="The last N hours of business time (at most ten years); default: since the "
        "tenant's first attempt.",
    )


class ActivityBucket(BaseModel):
    start: dt.datetime = Field(..., description="Where the bucket starts (business time, UTC).")
    delivered: int = Field(..., description="Attempts answered 2xx.")
    failed: int = Field(..., description="Attempts retried, dead, held by a 410 or abandoned.")


class OutboxActivity(BaseModel):
    now: dt.datetime = Field(..., description="The tenant's business time now; the last bucket holds it.")
    start: dt.datetime
    end: dt.datetime
    bucket_seconds: int = Field(..., description="Width of every bucket: 1 minute to 30 days.")
    delivered: int
    failed: int
    buckets: list[ActivityBucket] = Field(..., description="Oldest first, at most 25; the last holds `now`.")


@outbox_api.get("/tenants/<tenant>/outbox", tags=[outbox_tag], responses={200: OutboxPage, 422: Problem})
def list_outbox(path: TenantPath, query: OutboxQuery) -> dict[str, Any]:
    """Messages oldest first after `since`, filtered by state and topic, with counts per state."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return outbox.list_messages(session, tenant_id, query.state, query.topic, query.since, query.limit)


@outbox_api.get(
    "/tenants/<tenant>/outbox/activity", tags=[outbox_tag], responses={200: OutboxActivity, 422: Problem}
)
def outbox_activity(path: TenantPath, query: ActivityQuery) -> dict[str, Any]:
    """Delivery attempts over time: delivered and failed per bucket of business time (what the console's
    writeback chart draws)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return outbox.delivery_activity(session, tenant_id, query.hours)


@outbox_api.get(
    "/tenants/<tenant>/outbox/<int:message_id>", tags=[outbox_tag], responses={200: OutboxMessageDetail}
)
def get_message(path: MessagePath) -> dict[str, Any]:
    """One message with its payload and every delivery attempt (status, latency, response snippet)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return outbox.get_message(session, tenant_id, path.message_id)


@outbox_api.post(
    "/tenants/<tenant>/outbox/<int:message_id>/replay",
    tags=[outbox_tag],
    responses={200: ReplayResult, 422: Problem},
)
def replay_message(path: MessagePath) -> dict[str, Any]:
    """Send a dead letter again, from the start of the retry schedule (422 unless it is dead)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        return {"replayed": outbox.replay(session, tenant_id, [path.message_id])}


@outbox_api.post("/tenants/<tenant>/outbox/replay-dead", tags=[outbox_tag], responses={200: ReplayResult})
def replay_dead(path: TenantPath) -> dict[str, Any]:
    """Send every dead letter of the tenant again."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        return {"replayed": outbox.replay(session, tenant_id)}


@outbox_api.get("/tenants/<tenant>/endpoints", tags=[outbox_tag], responses={200: WebhookEndpointList})
def list_endpoints(path: TenantPath) -> dict[str, Any]:
    """The tenant's webhook endpoints (secrets are not shown)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return {"endpoints": outbox.list_endpoints(session, tenant_id)}


@outbox_api.post(
    "/tenants/<tenant>/endpoints", tags=[outbox_tag], responses={201: WebhookEndpointCreated, 422: Problem}
)
def add_subscriber(path: TenantPath, body: EndpointCreate) -> Any:
    """Add a subscriber endpoint (e.g. for `credit.recorded`); returns its signing secret once."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        endpoint = outbox.add_endpoint(
            session, tenant_id, body.name, body.url, secret=body.secret, topics=body.topics
        )
        document = outbox.endpoint_json(endpoint, with_secret=True)
    return created(document, f"/api/tenants/{tenant_id}/endpoints/{body.name}")


@outbox_api.post(
    "/tenants/<tenant>/endpoints/<name>/enable", tags=[outbox_tag], responses={200: WebhookEndpoint}
)
def enable_endpoint(path: EndpointPath) -> dict[str, Any]:
    """Enable an endpoint again (e.g. after a 410 disabled it); its held messages go out."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        return outbox.endpoint_json(outbox.set_endpoint_enabled(session, tenant_id, path.name, True))


@outbox_api.post(
    "/tenants/<tenant>/endpoints/<name>/disable", tags=[outbox_tag], responses={200: WebhookEndpoint}
)
def disable_endpoint(path: EndpointPath, body: DisableBody) -> dict[str, Any]:
    """Disable an endpoint: its messages are held, not sent, until it is enabled."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        return outbox.endpoint_json(
            outbox.set_endpoint_enabled(session, tenant_id, path.name, False, body.reason)
        )


class InboxSecretOut(BaseModel):
    secret: str = Field(..., description="`whsec_…`: sign deliveries to the inbox with it. Shown only here.")
    inbox_url: str


@outbox_api.post(
    "/tenants/<tenant>/writeback/inbox-secrets", tags=[outbox_tag], responses={201: InboxSecretOut}
)
def add_inbox_sender(path: TenantPath) -> Any:
    """Trust a new signing secret at the tenant's AMS writeback inbox, for a sender of your own (a
    connector under test, a load generator); it is returned once. The LMS's own secret stays trusted."""
    tenant_id = authorized_tenant_id(path.tenant)
    secret = new_secret()
    with database().session() as session:
        add_inbox_secret(session, tenant_id, secret)
    inbox_url = writeback_setup.inbox_url(app_state().config, tenant_id)
    return created({"secret": secret, "inbox_url": inbox_url})
