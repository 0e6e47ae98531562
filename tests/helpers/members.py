"""Put AMS members straight into the database, for tests of jobs that act on them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from simulator.ams.models import Member
from simulator.core.clock import wall_now
from simulator.core.db import Database


def add_member(
    db: Database, tenant: str, email: str, status: str | None, expiry_date: dt.date | None
) -> None:
    """A regular member with ``status`` (a non-member when ``status`` is None) expiring on ``expiry_date``."""
    now = wall_now()
    with db.session() as session:
        session.execute(
            insert(Member).values(
                tenant_id=tenant,
                member_id=email.partition("@")[0],
                email=email,
                given_name="Test",
                family_name="Person",
                record_type="member" if status else "non_member",
                member_type="regular" if status else None,
                status=status,
                join_date=expiry_date - dt.timedelta(days=365) if expiry_date else None,
                expiry_date=expiry_date,
                roles=[],
                profile={},
                password_hash="x",
                created_at=now,
                updated_at=now,
            )
        )


def member_status(db: Database, tenant: str, email: str) -> str | None:
    with db.read() as session:
        return session.scalar(select(Member.status).where(Member.tenant_id == tenant, Member.email == email))
