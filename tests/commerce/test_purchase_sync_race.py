"""Two purchase syncs of one new learner at once (two ``order.paid`` webhooks) both succeed and enrol
once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from simulator.core.db import Database
from simulator.core.models import Tenant
from simulator.lms.commerce.models import PurchaseGrant
from simulator.lms.commerce.service import reconcile
from simulator.lms.learning.models import Course, Enrollment
from simulator.lms.models import Learner


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def test_a_sync_during_another_of_the_same_learner_waits_its_turn(
    db: Database, make_tenant: Any, config: Any
) -> None:
    make_tenant("acme")
    with db.read() as session:
        course = session.scalar(select(Course.code).where(Course.tenant_id == "acme").limit(1))
    assert course is not None
    answers: list[Any] = []

    def second_webhook() -> None:
        other = Database(config.resolved_database_url)  # its own connections, as another process has
        try:
            with other.session() as session:
                tenant = session.get(Tenant, "acme")
                answers.append(reconcile(session, tenant, "M-NEW", {course}, version=2))
        except Exception as exc:  # noqa: BLE001 - the answer under test
            answers.append(exc)
        finally:
            other.dispose()

    with db.session() as session:
        first = reconcile(session, session.get(Tenant, "acme"), "M-NEW", {course}, version=1)
        racer = threading.Thread(target=second_webhook)
        racer.start()
        racer.join(1.0)  # the second gets as far as it can before the first commits
    racer.join(60)

    assert first == {"enrolled": [course], "revoked": [], "stale": False}
    assert answers == [{"enrolled": [], "revoked": [], "stale": False}]
    with db.read() as session:
        grants = session.scalar(
            select(func.count()).select_from(PurchaseGrant).where(PurchaseGrant.member_id == "M-NEW")
        )
        enrollments = session.scalar(
            select(func.count()).select_from(Enrollment).join(Learner).where(Learner.member_id == "M-NEW")
        )
    assert (grants, enrollments) == (1, 1)
