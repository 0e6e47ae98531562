"""One-time hand-off tokens: issue, redeem atomically, and describe the member they name (no Flask).

A token is 256 random bits (``secrets.token_urlsafe(32)``), stored only as its SHA-256 digest, bound to one
member and one service, and valid for ``sso.token_ttl_seconds`` on the **wall clock** (protocol time, never
the tenant's simulated business clock). Redeeming is a single conditional ``UPDATE … WHERE used_at IS NULL
AND expires_at > now``: of two concurrent validations exactly one wins. A refused redemption changes
nothing and says why: ``invalid_token`` (unknown or tampered), ``expired_token``, ``used_token`` or
``wrong_service`` (issued to another service; the token stays usable by its own service).

The profile answered for a redeemed token is built exactly as for SAML and OIDC
(:mod:`simulator.ams.idp.attributes`): the same attributes, the service's release list, the tenant's
renames (``sso.attribute_names``, as for OIDC claims), and the access-policy decision *at validation time*.

Example::

    token = issue_token(session, "demo", service, "M000001", ttl_seconds=60, flow="launch", target=None)
    redeemed = redeem_token(session, "demo", service, token)
    profile = member_profile(db, "demo", redeemed.member_id, settings, service)
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from simulator.ams.idp.attributes import access_decision, claim_name, member_attributes, released
from simulator.ams.idp.login import signed_in_member
from simulator.ams.idp.token.models import HandoffToken, TokenService
from simulator.ams.idp.token.registry import BackChannelError
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import BadRequest, NotFound
from simulator.core.security import digest_key
from simulator.core.settings import TenantSettings

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 200
MAX_TARGET_CHARS = 1024
FLOWS = ("launch", "authorize")
EXPIRED_TOKENS_KEPT = dt.timedelta(hours=1)


class TokenRefused(BackChannelError):
    """A token the back channel will not redeem; the problem document also carries ``error`` = code."""

    http_status = 400


@dataclass(frozen=True)
class RedeemedToken:
    """What a redeemed token was bound to (a detached snapshot)."""

    member_id: str
    service_id: str
    flow: str
    target: str | None
    issued_at: dt.datetime


def check_target(target: str | None) -> str | None:
    """A return path to hand to the service as is: at most 1024 characters, no control characters."""
    if not target:
        return None
    if len(target) > MAX_TARGET_CHARS or any(ord(char) < 0x20 or char == "\x7f" for char in target):
        raise BadRequest(
            "The target must be at most 1024 characters without control characters.", code="invalid_target"
        )
    return target


def issue_token(
    session: Session,
    tenant_id: str,
    service: TokenService,
    member_id: str,
    ttl_seconds: int,
    flow: str,
    target: str | None,
    now: dt.datetime | None = None,
) -> str:
    """Create a one-time token for ``member_id`` and ``service``; returns it (never stored in clear)."""
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}")
    now = now or wall_now()
    session.execute(
        delete(HandoffToken).where(
            HandoffToken.tenant_id == tenant_id, HandoffToken.expires_at < now - EXPIRED_TOKENS_KEPT
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        HandoffToken(
            tenant_id=tenant_id,
            token_hash=digest_key(token),
            service_id=service.service_id,
            member_id=member_id,
            flow=flow,
            target=check_target(target),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()
    return token


def _refusal(row: HandoffToken | None, service: TokenService) -> TokenRefused:
    if row is None:
        return TokenRefused(
            "The token is not one this AMS issued (unknown or altered).", code="invalid_token"
        )
    if row.service_id != service.service_id:
        return TokenRefused("The token was issued to another service.", code="wrong_service", http_status=403)
    if row.used_at is not None:
        return TokenRefused("The token has already been used; tokens work once.", code="used_token")
    return TokenRefused("The token has expired; start the sign-in again.", code="expired_token")


def redeem_token(
    session: Session, tenant_id: str, service: TokenService, token: str | None, now: dt.datetime | None = None
) -> RedeemedToken:
    """Consume ``token`` for ``service`` (once, before its expiry) or raise :class:`TokenRefused`."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("Send the token to validate ('token').", code="invalid_token")
    now = now or wall_now()
    token_hash = digest_key(token)
    consumed = session.execute(
        update(HandoffToken)
        .where(
            HandoffToken.tenant_id == tenant_id,
            HandoffToken.token_hash == token_hash,
            HandoffToken.service_id == service.service_id,
            HandoffToken.used_at.is_(None),
            HandoffToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = session.scalar(
        select(HandoffToken).where(HandoffToken.tenant_id == tenant_id, HandoffToken.token_hash == token_hash)
    )
    if consumed.rowcount != 1 or row is None:
        raise _refusal(row, service)
    return RedeemedToken(row.member_id, row.service_id, row.flow, row.target, row.created_at)


def member_profile(
    db: Database, tenant_id: str, member_id: str, settings: TenantSettings, service: TokenService
) -> dict[str, Any]:
    """The member as ``service`` may see them now: released attributes and the access decision."""
    member = signed_in_member(db, tenant_id, member_id)
    if member is None:
        raise NotFound(f"Member {member_id} no longer exists or is deactivated.", code="member_not_found")
    decision = access_decision(member, settings.access)
    access = decision.access if decision.allowed else "denied"
    values = released(member_attributes(member, settings.sso, access), service.attributes)
    return {
        "member_id": member.member_id,
        "service_id": service.service_id,
        "attributes": {claim_name(name, settings.sso): value for name, value in values.items()},
        "access_decision": {
            "allowed": decision.allowed,
            "access": access or "full",
            "category": decision.category,
            "message": decision.message,
        },
    }
