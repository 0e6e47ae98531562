"""Prepared statements (the hot path's way to the database) store and read exactly what Core does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from simulator.core.db import Database
from simulator.core.models import JournalEntry, Tenant
from simulator.core.prepared import Prepared
from simulator.core.tenancy import create_tenant

_journal = JournalEntry.__table__
_INSERT = Prepared(insert(_journal).returning(_journal.c.id))
_BY_ID = Prepared(
    select(
        _journal.c.id, _journal.c.at, _journal.c.request_headers, _journal.c.status, _journal.c.fault
    ).where(_journal.c.tenant_id == bindparam("tenant_id"), _journal.c.id == bindparam("entry_id"))
)
_SET_STATUS = Prepared(
    update(_journal)
    .where(_journal.c.tenant_id == bindparam("of_tenant"), _journal.c.status == bindparam("old"))
    .values(status=bindparam("new"))
)
_SET_BY_ID = Prepared(update(_journal).where(_journal.c.id == bindparam("entry_id")))
_NEWEST = Prepared(
    select(_journal.c.id)
    .where(_journal.c.tenant_id == bindparam("tenant_id"))
    .order_by(_journal.c.id.desc())
    .limit(2)
)
AT = dt.datetime(2026, 11, 28, 12, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture
def database(any_db_url: str) -> Iterator[Database]:
    database = Database(any_db_url)
    database.upgrade()
    with database.session() as session:
        create_tenant(session, "acme")
    yield database
    database.dispose()


def entry(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "tenant_id": "acme",
        "at": AT,
        "app": "ams",
        "method": "GET",
        "path": "/t/acme/x",
        "query": "",
        "request_headers": [["Host", "127.0.0.1"]],
        "request_body": "",
        "status": 200,
        "response_headers": [],
        "response_body": "",
        "latency_ms": 1.5,
        "fault": {"rule_id": 7},
        "remote_addr": None,
    }
    values.update(changes)
    return values


def test_a_row_written_prepared_reads_back_the_same_through_the_orm(database: Database) -> None:
    entry_id = database.first(_INSERT, entry()).id
    with database.read() as session:
        stored = session.get(JournalEntry, entry_id)
        assert stored is not None
        assert stored.at == AT
        assert stored.request_headers == [["Host", "127.0.0.1"]]
        assert stored.fault == {"rule_id": 7}
    row = database.first(_BY_ID, {"tenant_id": "acme", "entry_id": entry_id})
    assert row.at == AT and row.at.tzinfo is not None
    assert row.request_headers == [["Host", "127.0.0.1"]]
    assert (row.id, row.status, row[4]) == (entry_id, 200, {"rule_id": 7})
    assert database.first(_BY_ID, {"tenant_id": "other", "entry_id": entry_id}) is None


def test_updates_report_rows_touched_and_limits_take_their_built_in_value(database: Database) -> None:
    ids = [database.first(_INSERT, entry(status=status)).id for status in (200, 200, 500)]
    assert database.run(_SET_STATUS, {"of_tenant": "acme", "old": 200, "new": 204}) == 2
    assert [row.id for row in database.all(_NEWEST, {"tenant_id": "acme"})] == ids[:0:-1]


def test_an_update_without_values_sets_exactly_the_columns_it_is_given(database: Database) -> None:
    entry_id = database.first(_INSERT, entry()).id
    database.run(_SET_BY_ID, {"entry_id": entry_id, "status": 503})
    database.run(_SET_BY_ID, {"entry_id": entry_id, "path": "/t/acme/y", "fault": None})
    row = database.first(_BY_ID, {"tenant_id": "acme", "entry_id": entry_id})
    assert (row.status, row.fault) == (503, None)
    with database.read() as session:
        assert session.get(JournalEntry, entry_id).path == "/t/acme/y"


def test_a_failed_transaction_leaves_nothing_behind(database: Database) -> None:
    with pytest.raises(IntegrityError), database.prepared_transaction() as transaction:
        transaction.first(_INSERT, entry(path="/kept-only-if-committed"))
        transaction.first(_INSERT, entry(tenant_id="no-such-tenant"))  # foreign key
    with database.read() as session:
        assert session.scalars(select(JournalEntry.path)).all() == []
    assert database.first(_INSERT, entry()).id is not None  # the connection went back to the pool usable


def test_an_insert_must_name_every_column_that_has_a_default(database: Database) -> None:
    values = entry()
    del values["query"]
    with pytest.raises(ValueError, match="'query'"):
        database.first(_INSERT, values)


def test_a_missing_parameter_is_named(database: Database) -> None:
    with pytest.raises(ValueError, match="'entry_id'"):
        database.first(_BY_ID, {"tenant_id": "acme"})


def test_statements_rendered_at_execution_time_are_refused(database: Database) -> None:
    expanding = Prepared(select(Tenant.id).where(Tenant.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="execution time"):
        database.all(expanding, {"ids": ["acme"]})
