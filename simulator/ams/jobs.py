"""AMS jobs on the tenant's business clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from simulator.ams.models import Member
from simulator.core.jobs import JobContext, daily_at, recurring_job


@recurring_job("ams.membership_sweep", daily_at(0, 5))
def sweep_memberships(ctx: JobContext) -> dict[str, Any]:
    """Nightly: memberships past expiry go to grace; past expiry plus the grace period, to lapsed.

    A membership is good through its expiry date (inclusive), in the tenant's time zone.
    """
    today = ctx.now.astimezone(ctx.settings.zone).date()
    lapse_before = today - dt.timedelta(days=ctx.settings.membership.grace_days)
    tenant_members = (Member.tenant_id == ctx.tenant.id, Member.record_type == "member")
    lapsed = ctx.session.execute(
        update(Member)
        .where(*tenant_members, Member.status.in_(("active", "grace")), Member.expiry_date < lapse_before)
        .values(status="lapsed", updated_at=ctx.now)
    ).rowcount
    grace = ctx.session.execute(
        update(Member)
        .where(*tenant_members, Member.status == "active", Member.expiry_date < today)
        .values(status="grace", updated_at=ctx.now)
    ).rowcount
    return {"to_grace": grace, "to_lapsed": lapsed, "date": today.isoformat()}
