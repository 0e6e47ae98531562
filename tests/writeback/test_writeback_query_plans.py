"""The writeback path stays linear: no statement it runs walks a table that grows with use.

A completion, a batch window, an outbox claim and an inbox delivery are run on SQLite with every
statement captured; each is then explained (``EXPLAIN QUERY PLAN``) and must reach the growing tables —
enrollments, learning events, held writebacks, outbox messages, stored records — through an index
that narrows them to more than the tenant.
One statement scanning one of them (an enrollment lookup without its tenant, a claim whose ``OR`` hid the
index) made a nightly batch of 100,000 completions quadratic; this is the guard, without a stopwatch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

import simulator.jobs  # noqa: F401 - registers job kinds and outbox delivery
from simulator.ams.models import Member
from simulator.ams.writeback import inbox
from simulator.console.service import create_seeded_tenant
from simulator.core import secrets_at_rest
from simulator.core.clock import advance_clock
from simulator.core.db import Database
from simulator.core.delivery import claim_due_messages, next_due_message
from simulator.core.models import ScheduledJob, Tenant
from simulator.core.outbox import WRITEBACK_ENDPOINT, set_endpoint_enabled
from simulator.core.outbox_models import OutboxMessage
from simulator.lms.learning import service as learning
from simulator.lms.learning.models import HeldWriteback
from simulator.lms.learning.writeback import BATCH_JOB, BULK_TOPIC
from tests.conftest import make_config

GROWING_TABLES = (
    "lms_enrollments",
    "lms_learning_events",
    "lms_held_writebacks",
    "outbox_messages",
    "ams_writeback_records",
)
WHOLE_TABLE_OR_TENANT = re.compile(
    r"^(?:SCAN (\w+)|SEARCH (\w+) USING (?:COVERING )?INDEX \w+ \(tenant_id=\?\))$"
)
"""A plan step that walks a whole table, or everything one tenant ever put in it."""
NIGHTLY = {
    "name": "nightly",
    "trigger": "credits.awarded",
    "value_format": "ce_credit",
    "mode": "batch",
    "schedule": {"every": "nightly", "at": "02:00"},
}
IMMEDIATE = {"name": "now", "trigger": "course.passed", "value_format": "ce_credit"}


@pytest.fixture
def db(tmp_path: Path, sqlite_url: str) -> Iterator[Database]:
    config = make_config(tmp_path, sqlite_url)
    database = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, database)
    database.upgrade()
    create_seeded_tenant(
        database, config, "acme", seed=3, members=8, settings={"writeback": {"rules": [NIGHTLY, IMMEDIATE]}}
    )
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT/UPDATE/DELETE run on ``db`` meanwhile, with its parameters."""
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")) and not many:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)


def scanned_tables(db: Database, statements: list[tuple[str, Any]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    with db.engine.connect() as connection:
        for statement, parameters in statements:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            for row in plan:
                match = WHOLE_TABLE_OR_TENANT.match(row[-1])
                table = match and (match.group(1) or match.group(2))
                if table in GROWING_TABLES:
                    found.add((table, " ".join(statement.split())[:200]))
    return found


def count(db: Database, model: Any, *conditions: Any) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(model).where(model.tenant_id == "acme", *conditions)
        )


def test_completions_batches_claims_and_deliveries_reach_growing_tables_by_index(db: Database) -> None:
    with db.read() as session:
        members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == "acme")))
    with captured(db) as statements:
        with db.session() as session:
            tenant = session.get(Tenant, "acme")
            for member in members[:3]:
                enrollment, _ = learning.enroll(session, tenant, member, "ETH-101")
                learning.enroll(session, tenant, member, "ETH-101")  # the second time finds the first
                learning.complete(session, tenant, enrollment["id"], 90, "http://lms.test")
        with db.session() as session:  # the window bundles the held records; nothing is sent anywhere
            set_endpoint_enabled(session, "acme", WRITEBACK_ENDPOINT, enabled=False)
        advance_clock(db, "acme", dt.timedelta(days=1))
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
        next_due_message(db, "acme", until)
        claim_due_messages(db, "acme", until)
        with db.session() as session:
            tenant = session.get(Tenant, "acme")
            envelope = {
                "id": "wb_plan",
                "destination": "ce_transcript",
                "member_id": members[0],
                "record": {
                    "activity_code": "X-1",
                    "credit_type": "CLE",
                    "credits": 1,
                    "completion_date": "2026-03-01",
                },
            }
            inbox.ingest(session, tenant, [envelope], "wb_plan")
    assert any("lms_held_writebacks" in statement for statement, _ in statements)
    assert scanned_tables(db, statements) == set()


def test_a_transaction_holding_many_records_for_one_window_schedules_it_once_and_sends_them_all(
    db: Database,
) -> None:
    with db.read() as session:
        members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == "acme")))
    with db.session() as session:
        tenant = session.get(Tenant, "acme")
        for member in members:
            enrollment, _ = learning.enroll(session, tenant, member, "ETH-101")
            learning.complete(session, tenant, enrollment["id"], 90, "http://lms.test")
    assert (count(db, ScheduledJob, ScheduledJob.kind == BATCH_JOB), count(db, HeldWriteback)) == (
        1,
        len(members),
    )
    with db.session() as session:
        set_endpoint_enabled(session, "acme", WRITEBACK_ENDPOINT, enabled=False)
    advance_clock(db, "acme", dt.timedelta(days=1))
    assert count(db, HeldWriteback) == 0
    assert count(db, OutboxMessage, OutboxMessage.topic == BULK_TOPIC) == 1
