"""Signing in at the AMS: check an email and password against the member record (no Flask here).

Example::

    member_id = authenticate(db, "demo", "active.member@demo.test", "demo")
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from simulator.ams.models import Member, Organisation
from simulator.core.db import Database
from simulator.core.errors import SandboxError
from simulator.core.security import verify_password

BAD_CREDENTIALS = "That email and password do not match our records."
DEACTIVATED = "This account has been deactivated. Contact the association to restore it."


class LoginFailed(SandboxError):
    """Wrong email or password, or a deactivated account (the message is safe to show)."""

    code = "login_failed"
    http_status = 401


_CREDENTIALS = select(Member.member_id, Member.password_hash, Member.deactivated_at).where(
    Member.tenant_id == bindparam("tenant_id"), Member.email == bindparam("email")
)


def authenticate(db: Database, tenant_id: str, email: str, password: str) -> str:
    """The member id of the member with this email and password; ``LoginFailed`` otherwise (the same
    message either way)."""
    with db.read_connection() as connection:
        found = connection.execute(
            _CREDENTIALS, {"tenant_id": tenant_id, "email": email.strip().lower()}
        ).first()
    if found is None or not verify_password(password, found.password_hash):
        raise LoginFailed(BAD_CREDENTIALS)
    if found.deactivated_at is not None:
        raise LoginFailed(DEACTIVATED, http_status=403, code="account_deactivated")
    return str(found.member_id)


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
