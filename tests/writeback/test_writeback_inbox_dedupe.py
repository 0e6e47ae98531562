"""The inbox's set-based dedupe, on SQLite and PostgreSQL: by id before the insert, by natural key through
the unique constraint, within one batch and across deliveries — and each record's answer says which."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from simulator.ams.models import Member
from simulator.ams.writeback import inbox
from simulator.ams.writeback.models import InboxEntry, WritebackRecord
from simulator.console.service import create_seeded_tenant
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.core.models import Tenant
from tests.conftest import make_config


@pytest.fixture
def seeded(tmp_path: Path, any_db_url: str) -> Iterator[tuple[Database, list[str]]]:
    config = make_config(tmp_path, any_db_url)
    db = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)
    db.upgrade()
    create_seeded_tenant(db, config, "acme", seed=3, members=6)
    with db.read() as session:
        members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == "acme")))
    try:
        yield db, members
    finally:
        db.dispose()


def credit(record_id: str, member_id: str, code: str, day: str = "2026-03-01") -> dict[str, Any]:
    return {
        "id": record_id,
        "destination": "ce_transcript",
        "format": "ce_credit",
        "member_id": member_id,
        "record": {"activity_code": code, "credit_type": "CPE", "credits": 1.5, "completion_date": day},
    }


def deliver(db: Database, envelopes: list[Any]) -> list[tuple[str, str]]:
    with db.session() as session:
        tenant = session.get(Tenant, "acme")
        results = inbox.ingest(session, tenant, envelopes, "bulk")
    return [(r["result"], r.get("reason", "").split(":")[0]) for r in results]


def stored(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(WritebackRecord))


def test_a_clean_bulk_is_stored_whole(seeded: tuple[Database, list[str]]) -> None:
    db, members = seeded
    batch = [credit(f"wb_{n}", members[n % len(members)], f"C-{n}") for n in range(300)]
    assert deliver(db, batch) == [("accepted", "")] * 300
    assert stored(db) == 300


def test_duplicates_by_id_and_by_natural_key_are_told_apart_and_never_stored(
    seeded: tuple[Database, list[str]],
) -> None:
    db, members = seeded
    ann, bob = members[0], members[1]
    assert deliver(db, [credit("wb_1", ann, "ETH-101"), credit("wb_2", bob, "ETH-101")]) == [
        ("accepted", ""),
        ("accepted", ""),
    ]

    results = deliver(
        db,
        [
            credit("wb_1", ann, "ETH-101"),  # a retry: same id
            credit("wb_9", bob, "ETH-101"),  # the same completion re-sent under a new id
            credit("wb_3", ann, "CPE-110"),  # new
            credit("wb_4", ann, "CPE-110"),  # the same completion twice in one batch
            credit("wb_5", ann, "CPE-110", day="2026-03-02"),  # another day: a new completion
            credit("wb_6", "NOBODY", "CPE-110"),  # unknown member
            {"id": "wb_7", "destination": "ce_transcript", "record": {"activity_code": "X"}},  # bad
        ],
    )

    assert results == [
        ("duplicate", "duplicate_id"),
        ("duplicate", "duplicate_natural_key"),
        ("accepted", ""),
        ("duplicate", "duplicate_natural_key"),
        ("accepted", ""),
        ("rejected", "unknown_member"),
        ("rejected", "missing_field"),
    ]
    assert stored(db) == 4
    with db.read() as session:
        logged = session.execute(
            select(InboxEntry.record_id, InboxEntry.result).order_by(InboxEntry.id)
        ).all()
    assert [tuple(row) for row in logged] == [
        ("wb_1", "duplicate"),
        ("wb_9", "duplicate"),
        ("wb_4", "duplicate"),
        ("wb_6", "rejected"),
        ("wb_7", "rejected"),
    ]


def test_stored_values_read_back_as_sent(seeded: tuple[Database, list[str]]) -> None:
    db, members = seeded
    envelope = credit("wb_x", members[0], "CME-120", day="2026-02-28T23:30:00-05:00")
    envelope["record"].update({"score": 88.5, "passed": True, "certificate_number": "CERT-1"})
    deliver(db, [envelope])
    with db.read() as session:
        record = session.scalar(select(WritebackRecord))
    assert (record.completed_on.isoformat(), record.credits, record.score, record.passed) == (
        "2026-02-28",
        1.5,
        88.5,
        True,
    )
    assert record.certificate_number == "CERT-1" and record.received_at.tzinfo is not None
