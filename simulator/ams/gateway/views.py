"""Payment gateway stub over HTTP: ``/t/{tenant}/gateway/v1/…`` (tenant or admin key).

Every mutating call honours ``Idempotency-Key`` (see :mod:`simulator.ams.gateway.idempotency`); a replayed
answer carries ``Idempotent-Replayed: true``. Declines answer 402 problem+json with the decline code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from flask_openapi3 import Tag
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from simulator.ams.gateway import service
from simulator.ams.gateway.idempotency import find_replay, remember, request_digest, tenant_secret
from simulator.core.db import INT32_MAX
from simulator.core.errors import PROBLEM_CONTENT_TYPE, SandboxError
from simulator.core.models import Tenant
from simulator.core.web import Problem, TenantPath, current_tenant, database, tenant_blueprint

gateway_tag = Tag(name="gateway", description="Payment gateway stub (test cards select the outcome)")
gateway_api = tenant_blueprint("gateway", __name__, [gateway_tag], prefix="/gateway/v1", secured=True)


class TokenIn(BaseModel):
    card: service.CardIn


class TokenOut(BaseModel):
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


class ChargeIn(BaseModel):
    token: str = Field(..., max_length=40)
    amount: int = Field(..., gt=0, le=INT32_MAX, description="Minor units (cents).")
    description: str | None = Field(None, max_length=200)


class ChargeOut(BaseModel):
    id: str
    token: str
    amount: int
    currency: str
    status: str
    decline_code: str | None
    refunded_amount: int
    refunds: list[dict[str, Any]]
    description: str | None
    created_at: str


class ConfirmIn(BaseModel):
    challenge_response: str = Field(..., max_length=40, description="`pass` completes the challenge.")


class ChargeRefundIn(BaseModel):
    amount: int | None = Field(
        None, gt=0, le=INT32_MAX, description="Minor units; default: all that is left."
    )


class ChargePath(TenantPath):
    charge_id: str = Field(..., max_length=40)


def _json(body: Any, status: int, replayed: bool = False) -> Response:
    response = jsonify(body)
    response.status_code = status
    if status >= 400:
        response.mimetype = PROBLEM_CONTENT_TYPE
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent_call(
    scope: str, body: Any, work: Callable[[Session, Tenant], tuple[int, Any]], keep_declines: bool = True
) -> Response:
    """Run ``work`` once per ``Idempotency-Key`` (when the request has one) and answer with its result.

    A 402 answer (a decline, raised as a :class:`SandboxError`) is stored and replayed like a success;
    with ``keep_declines=False`` whatever ``work`` wrote is rolled back on a decline (a savepoint).
    """
    key = request.headers.get("Idempotency-Key")
    with database().session() as session:
        tenant = session.get(Tenant, current_tenant().id)
        assert tenant is not None
        digest = request_digest(tenant_secret(session, tenant.id), request.method, request.path, body)
        if key is not None:
            replay = find_replay(session, tenant, scope, key, digest)
            if replay is not None:
                return _json(replay[1], replay[0], replayed=True)
        savepoint = session.begin_nested()
        try:
            status, result = work(session, tenant)
            savepoint.commit()
        except SandboxError as error:
            if error.http_status != 402:
                raise
            if keep_declines:
                savepoint.commit()
            else:
                savepoint.rollback()
            status, result = 402, error.to_problem(instance=request.path)
            result["title"] = "Payment Required"
            if keep_declines and getattr(error, "charge", None):
                result["charge"] = error.charge
        if key is not None:
            remember(session, tenant, scope, key, digest, status, result)
    return _json(result, status)


@gateway_api.post("/tokens", responses={201: TokenOut, 402: Problem})
def create_token(path: TenantPath, body: TokenIn) -> Response:
    """Tokenise a card. Only brand, last four, expiry and a keyed fingerprint are kept."""
    return idempotent_call(
        "gateway",
        body.model_dump(),
        lambda session, tenant: (201, service.tokenise(session, tenant, body.card)),
    )


@gateway_api.post("/charges", responses={201: ChargeOut, 402: Problem})
def create_charge(path: TenantPath, body: ChargeIn) -> Response:
    """Charge a token. The token's test card decides: succeeded, requires_action, or a 402 decline."""
    return idempotent_call(
        "gateway",
        body.model_dump(),
        lambda session, tenant: (
            201,
            service.charge_card(session, tenant, body.token, body.amount, body.description),
        ),
    )


@gateway_api.get("/charges/<charge_id>", responses={200: ChargeOut})
def get_charge(path: ChargePath) -> dict[str, Any]:
    """One charge with its refunds."""
    with database().read() as session:
        return service.get_charge(session, current_tenant().id, path.charge_id)


@gateway_api.post("/charges/<charge_id>/confirm", responses={200: ChargeOut, 402: Problem, 409: Problem})
def confirm_charge(path: ChargePath, body: ConfirmIn) -> Response:
    """Second step of the challenge card: `pass` completes the charge, anything else fails it."""
    return idempotent_call(
        "gateway",
        body.model_dump(),
        lambda session, tenant: (
            200,
            service.confirm_charge(session, tenant, path.charge_id, body.challenge_response),
        ),
    )


@gateway_api.post("/charges/<charge_id>/refunds", responses={200: ChargeOut, 409: Problem})
def refund_charge(path: ChargePath, body: ChargeRefundIn) -> Response:
    """Refund all that is left of a charge, or `amount` of it."""
    return idempotent_call(
        "gateway",
        body.model_dump(),
        lambda session, tenant: (200, service.refund_charge(session, tenant, path.charge_id, body.amount)),
    )


@gateway_api.post("/charges/<charge_id>/void", responses={200: ChargeOut, 409: Problem})
def void_charge(path: ChargePath) -> Response:
    """Cancel a charge awaiting its challenge, or a same-day charge that was not refunded."""
    return idempotent_call(
        "gateway", {}, lambda session, tenant: (200, service.void_charge(session, tenant, path.charge_id))
    )
