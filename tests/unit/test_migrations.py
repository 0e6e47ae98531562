"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import inspect

import simulator.models  # noqa: F401 - every table on Base.metadata
from simulator.cli import main
from simulator.core.db import Base, Database, alembic_config
from simulator.core.models import Tenant
from simulator.core.tenancy import authenticate, create_tenant


@pytest.fixture
def empty_db(any_db_url: str) -> Iterator[Database]:
    database = Database(any_db_url)
    yield database
    database.dispose()


def table_names(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def schema_snapshot(db: Database) -> dict[str, list[tuple[str, str, bool]]]:
    """Each table's columns as (name, type, nullable), plus its index names."""
    inspector = inspect(db.engine)
    return {
        name: [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)]
        + [(index["name"], "index", False) for index in inspector.get_indexes(name)]
        for name in inspector.get_table_names()
    }


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def test_an_empty_database_upgraded_to_head_has_exactly_the_models_tables(empty_db: Database) -> None:
    assert table_names(empty_db) == set()

    empty_db.upgrade()

    assert table_names(empty_db) == set(Base.metadata.tables) | {"alembic_version"}
    assert current_revision(empty_db) == head_revision(empty_db)


def test_the_migrated_schema_matches_the_models(empty_db: Database) -> None:
    empty_db.upgrade()

    with empty_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    command.check(alembic_config(empty_db))  # the same comparison through env.py, as `alembic check` does


def test_upgrading_twice_changes_nothing(empty_db: Database) -> None:
    empty_db.upgrade()
    schema = schema_snapshot(empty_db)

    empty_db.upgrade()

    assert schema_snapshot(empty_db) == schema
    assert current_revision(empty_db) == head_revision(empty_db)


def test_upgrading_a_database_that_holds_data_keeps_it(empty_db: Database) -> None:
    empty_db.upgrade()
    with empty_db.session() as session:
        _, api_key = create_tenant(session, "acme", "ACME Society", settings={"timezone": "Europe/Paris"})

    reopened = Database(empty_db.url)  # as the next `sandbox up` would
    try:
        reopened.upgrade()
        with reopened.read() as session:
            tenant = session.get(Tenant, "acme")
            assert tenant is not None
            assert tenant.name == "ACME Society"
            assert tenant.settings["timezone"] == "Europe/Paris"
            assert authenticate(session, f"Bearer {api_key}", "admin").tenant_id == "acme"
    finally:
        reopened.dispose()


def test_a_database_from_the_first_release_is_upgraded_in_place(empty_db: Database) -> None:
    """A database left at revision 0001 (tenants only) gets every later table and keeps its tenant."""
    command.upgrade(alembic_config(empty_db), "0001")
    with empty_db.session() as session:
        create_tenant(session, "acme", "ACME Society")
    assert current_revision(empty_db) == "0001"
    assert set(Base.metadata.tables) - table_names(empty_db), "later migrations should add tables"

    empty_db.upgrade()

    assert current_revision(empty_db) == head_revision(empty_db)
    assert table_names(empty_db) == set(Base.metadata.tables) | {"alembic_version"}
    with empty_db.read() as session:
        assert session.get(Tenant, "acme") is not None


def test_sandbox_migrate_creates_the_schema(
    any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray ./sandbox.toml
    result = CliRunner().invoke(main, ["migrate", "--database-url", any_db_url, "--data-dir", "data"])

    assert result.exit_code == 0, result.output
    assert "latest schema" in result.output
    database = Database(any_db_url)
    try:
        assert table_names(database) == set(Base.metadata.tables) | {"alembic_version"}
        assert current_revision(database) == head_revision(database)
    finally:
        database.dispose()
