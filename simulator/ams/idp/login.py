"""Signing in at the AMS: check an email and password against the member record (no Flask here).

Example::

    with db.read() as session:
        member = authenticate(session, "demo", "active.member@demo.test", "demo")
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.models import Member, Organisation
from simulator.core.errors import SandboxError
from simulator.core.security import verify_password

BAD_CREDENTIALS = "That email and password do not match our records."
DEACTIVATED = "This account has been deactivated. Contact the association to restore it."


class LoginFailed(SandboxError):
    """Wrong email or password, or a deactivated account (the message is safe to show)."""

    code = "login_failed"
    http_status = 401


def authenticate(session: Session, tenant_id: str, email: str, password: str) -> Member:
    """The member with this email and password; ``LoginFailed`` otherwise (same message either way)."""
    member = session.scalar(
        select(Member).where(Member.tenant_id == tenant_id, Member.email == email.strip().lower())
    )
    if member is None or not verify_password(password, member.password_hash):
        raise LoginFailed(BAD_CREDENTIALS)
    if member.deactivated_at is not None:
        raise LoginFailed(DEACTIVATED, http_status=403, code="account_deactivated")
    return member


def signed_in_member(
    session: Session, tenant_id: str, member_id: str
) -> tuple[Member, Organisation | None] | None:
    """The member a login session names, as the AMS has it *now* (None when gone or deactivated)."""
    member = session.scalar(
        select(Member).where(Member.tenant_id == tenant_id, Member.member_id == member_id)
    )
    if member is None or member.deactivated_at is not None:
        return None
    organisation = session.get(Organisation, member.organisation_pk) if member.organisation_pk else None
    return member, organisation
