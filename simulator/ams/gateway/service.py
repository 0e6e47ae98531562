"""The payment gateway stub: tokenise a card, charge, confirm a challenge, refund (full or partial), void.

No Flask here. Outcomes follow the test card of the token (:mod:`simulator.ams.gateway.cards`). A
declined charge is kept with status ``failed`` and reported as :class:`PaymentDeclined` (402); callers
that must not keep anything on a decline (checkout) let it roll their transaction back.

Example::

    card = CardIn(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")
    token = tokenise(session, tenant, card)
    charge = charge_card(session, tenant, token["id"], 2500)
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.gateway.cards import APPROVED, CHALLENGE, CHALLENGE_ANSWER, DECLINE_MESSAGES, card_facts
from simulator.ams.gateway.idempotency import tenant_secret
from simulator.ams.gateway.models import CardToken, Charge
from simulator.core.clock import tenant_now
from simulator.core.errors import Conflict, NotFound, SandboxError, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.tenancy import tenant_settings

log = logging.getLogger(__name__)


class PaymentDeclined(SandboxError):
    """The card was declined; ``code`` says why (``card_declined``, ``insufficient_funds`` …)."""

    http_status = 402

    def __init__(self, code: str, message: str, charge: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code)
        self.charge = charge


class ChallengeRequired(SandboxError):
    """The card needs an extra step (3-D Secure style) before it can be charged."""

    code = "challenge_required"
    http_status = 402


class CardIn(BaseModel):
    """A card as the client sends it once, to be tokenised (never stored)."""

    number: str = Field(..., min_length=12, max_length=23, description="Card number (a test number).")
    exp_month: int = Field(..., ge=1, le=12)
    exp_year: int = Field(..., ge=2000, le=2100)
    cvc: str = Field(..., pattern=r"^\d{3,4}$")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def token_json(card: CardToken) -> dict[str, Any]:
    return {
        "id": card.token,
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
    }


def charge_json(charge: Charge) -> dict[str, Any]:
    return {
        "id": charge.charge_id,
        "token": charge.token,
        "amount": charge.amount,
        "currency": charge.currency,
        "status": charge.status,
        "decline_code": charge.decline_code,
        "refunded_amount": charge.refunded_amount,
        "refunds": charge.refunds,
        "description": charge.description,
        "created_at": charge.created_at.isoformat(),
    }


def card_expired(card: CardIn, today: dt.date) -> bool:
    """A card is good through the last day of its expiry month (MM/YY on the card)."""
    return (card.exp_year, card.exp_month) < (today.year, today.month)


def tokenise(session: Session, tenant: Tenant, card: CardIn) -> dict[str, Any]:
    """Keep brand, last four, expiry, fingerprint and test outcome of ``card``; returns the token.

    A card past its expiry month (on the tenant's business clock) is declined as ``expired_card``
    (:class:`PaymentDeclined`, 402) and nothing is kept.
    """
    try:
        facts = card_facts(card.number, tenant_secret(session, tenant.id))
    except ValueError as exc:
        raise ValidationFailed(
            "The card number is not valid.",
            code="invalid_card_number",
            errors=[{"field": "card.number", "message": str(exc)}],
        ) from exc
    if card_expired(card, tenant_now(tenant).astimezone(tenant_settings(tenant).zone).date()):
        raise PaymentDeclined("expired_card", DECLINE_MESSAGES["expired_card"])
    row = CardToken(
        tenant_id=tenant.id,
        token=_new_id("tok"),
        brand=facts.brand,
        last4=facts.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=facts.fingerprint,
        behaviour=facts.behaviour,
        created_at=tenant_now(tenant),
    )
    session.add(row)
    session.flush()
    log.info("tenant %s: card %s •••• %s tokenised as %s", tenant.id, row.brand, row.last4, row.token)
    return token_json(row)


def _token(session: Session, tenant_id: str, token: str) -> CardToken:
    card = session.scalar(select(CardToken).where(CardToken.tenant_id == tenant_id, CardToken.token == token))
    if card is None:
        raise ValidationFailed(
            f"There is no card token '{token}'.",
            code="unknown_card_token",
            errors=[{"field": "token", "message": "unknown token"}],
        )
    return card


def _charge(session: Session, tenant_id: str, charge_id: str) -> Charge:
    charge = session.scalar(
        select(Charge).where(Charge.tenant_id == tenant_id, Charge.charge_id == charge_id)
    )
    if charge is None:
        raise NotFound(f"There is no charge '{charge_id}'.", code="charge_not_found")
    return charge


def charge_card(
    session: Session,
    tenant: Tenant,
    token: str,
    amount: int,
    description: str | None = None,
    challenge_response: str | None = None,
) -> dict[str, Any]:
    """Charge ``amount`` minor units to ``token``.

    Returns the charge (``succeeded``, or ``requires_action`` for the challenge card without a
    ``challenge_response``); raises :class:`PaymentDeclined` after storing a ``failed`` charge.
    """
    if amount <= 0:
        raise ValidationFailed(
            "A charge must be for a positive amount.", errors=[{"field": "amount", "message": "must be > 0"}]
        )
    card = _token(session, tenant.id, token)
    behaviour = card.behaviour
    status, decline = "succeeded", None
    if behaviour == CHALLENGE:
        status = "succeeded" if challenge_response == CHALLENGE_ANSWER else "requires_action"
    elif behaviour != APPROVED:
        status, decline = "failed", behaviour
    charge = Charge(
        tenant_id=tenant.id,
        charge_id=_new_id("ch"),
        token=token,
        amount=amount,
        currency=tenant_settings(tenant).currency,
        status=status,
        decline_code=decline,
        refunded_amount=0,
        refunds=[],
        description=description,
        created_at=tenant_now(tenant),
    )
    session.add(charge)
    session.flush()
    log.info("tenant %s: charge %s of %d on %s: %s", tenant.id, charge.charge_id, amount, token, status)
    if decline is not None:
        raise PaymentDeclined(decline, DECLINE_MESSAGES[decline], charge_json(charge))
    return charge_json(charge)


def confirm_charge(
    session: Session, tenant: Tenant, charge_id: str, challenge_response: str
) -> dict[str, Any]:
    """Complete the challenge of a ``requires_action`` charge (``pass`` succeeds; anything else fails)."""
    charge = _charge(session, tenant.id, charge_id)
    if charge.status != "requires_action":
        raise Conflict(
            f"Charge '{charge_id}' is {charge.status}: nothing to confirm.", code="charge_not_pending"
        )
    if challenge_response != CHALLENGE_ANSWER:
        charge.status, charge.decline_code = "failed", "challenge_failed"
        session.flush()
        raise PaymentDeclined(
            "challenge_failed", "The card holder failed the challenge.", charge_json(charge)
        )
    charge.status = "succeeded"
    return charge_json(charge)


def refund_charge(
    session: Session, tenant: Tenant, charge_id: str, amount: int | None = None
) -> dict[str, Any]:
    """Refund ``amount`` (default: all that is left) of a succeeded charge; returns the charge."""
    charge = _charge(session, tenant.id, charge_id)
    if charge.status not in ("succeeded", "partially_refunded"):
        raise Conflict(
            f"Charge '{charge_id}' is {charge.status}; it cannot be refunded.", code="not_refundable"
        )
    left = charge.amount - charge.refunded_amount
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise ValidationFailed(
            f"A refund must be between 1 and {left} (what is left of the charge).",
            code="invalid_refund_amount",
            errors=[{"field": "amount", "message": f"must be 1–{left}"}],
        )
    refund = {"id": _new_id("re"), "amount": amount, "at": tenant_now(tenant).isoformat()}
    charge.refunds = [*charge.refunds, refund]
    charge.refunded_amount += amount
    charge.status = "refunded" if charge.refunded_amount == charge.amount else "partially_refunded"
    session.flush()
    return charge_json(charge)


def void_charge(session: Session, tenant: Tenant, charge_id: str) -> dict[str, Any]:
    """Cancel a charge that is waiting for its challenge, or one not yet refunded (same business day)."""
    charge = _charge(session, tenant.id, charge_id)
    same_day = tenant_now(tenant) - charge.created_at < dt.timedelta(days=1)
    if charge.status not in ("requires_action", "succeeded") or not same_day:
        raise Conflict(
            f"Charge '{charge_id}' is {charge.status} and cannot be voided (refund it instead).",
            code="not_voidable",
        )
    charge.status = "voided"
    return charge_json(charge)


def get_charge(session: Session, tenant_id: str, charge_id: str) -> dict[str, Any]:
    return charge_json(_charge(session, tenant_id, charge_id))
