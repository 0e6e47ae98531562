"""Signing in at the AMS: check an email and password against the member record (no Flask here).

Example::

    member_id = authenticate(db, "demo", "active.member@demo.test", "demo")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from simulator.ams.models import Member, Organisation
from simulator.core.db import Database
from simulator.core.errors import SandboxError
from simulator.core.prepared import Prepared
from simulator.core.security import verify_password

BAD_CREDENTIALS = "That email and password do not match our records."
DEACTIVATED = "This account has been deactivated. Contact the association to restore it."


class LoginFailed(SandboxError):
    """Wrong email or password, or a deactivated account (the message is safe to show)."""

    code = "login_failed"
    http_status = 401


@dataclass(frozen=True)
class SignedInMember:
    """A member as sign-on sees them now: what access decisions and asserted attributes are made of."""

    member_id: str
    email: str
    given_name: str
    family_name: str
    record_type: str
    member_type: str | None
    status: str | None
    expiry_date: dt.date | None
    profile: dict[str, Any] | None
    organisation_name: str | None
    organisation_id: str | None


_CREDENTIALS = Prepared(
    select(Member.member_id, Member.password_hash, Member.deactivated_at).where(
        Member.tenant_id == bindparam("tenant_id"), Member.email == bindparam("email")
    )
)
_SIGNED_IN_MEMBER = Prepared(
    select(
        Member.member_id,
        Member.email,
        Member.given_name,
        Member.family_name,
        Member.record_type,
        Member.member_type,
        Member.status,
        Member.expiry_date,
        Member.profile,
        Organisation.name,
        Organisation.org_id,
    )
    .outerjoin(Organisation, Organisation.pk == Member.organisation_pk)
    .where(
        Member.tenant_id == bindparam("tenant_id"),
        Member.member_id == bindparam("member_id"),
        Member.deactivated_at.is_(None),
    )
)


def authenticate(db: Database, tenant_id: str, email: str, password: str) -> str:
    """The member id of the member with this email and password; ``LoginFailed`` otherwise (the same
    message either way)."""
    found = db.first(_CREDENTIALS, {"tenant_id": tenant_id, "email": email.strip().lower()})
    if found is None or not verify_password(password, found.password_hash):
        raise LoginFailed(BAD_CREDENTIALS)
    if found.deactivated_at is not None:
        raise LoginFailed(DEACTIVATED, http_status=403, code="account_deactivated")
    return str(found.member_id)


def signed_in_member(db: Database, tenant_id: str, member_id: str) -> SignedInMember | None:
    """The member a login session names, as the AMS has it *now* (None when gone or deactivated)."""
    row = db.first(_SIGNED_IN_MEMBER, {"tenant_id": tenant_id, "member_id": member_id})
    return SignedInMember(*row) if row is not None else None


def member_id_by_email(db: Database, tenant_id: str, email: str) -> str | None:
    """The member id of the person with this email (case-insensitive), or None."""
    found = db.first(_CREDENTIALS, {"tenant_id": tenant_id, "email": email.strip().lower()})
    return str(found.member_id) if found is not None else None
