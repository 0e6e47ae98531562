"""Database engine, sessions and migrations, for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that two processes (the apps and the worker) never dead-lock upgrading a read
lock. :meth:`Database.read` gives a deferred transaction for read-only work.

Durability on SQLite (see :data:`SQLITE_PRAGMAS`): ``synchronous=NORMAL`` in WAL mode means a commit
is written to the WAL but not fsynced; the WAL is fsynced at each checkpoint. A committed transaction
survives the crash or SIGKILL of any process (the database stays consistent and keeps it); only a power
loss or an operating-system crash may take back the last transactions before the latest checkpoint —
never corrupt the file. The WAL is checkpointed every ``wal_autocheckpoint`` pages (about 40 MB) rather
than SQLite's default 4 MB: a delivery of 500 records dirties hundreds of index pages, and with the
default nearly every commit paid for a checkpoint (copy back and fsync) on its own. The WAL file is cut
back to ``journal_size_limit`` after a checkpoint, so it does not keep its peak size on disk.

Example::

    db = Database("sqlite:///.sandbox/sandbox.db")
    db.upgrade()
    with db.session() as session:  # commits on success, rolls back on error
        session.add(...)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from simulator.core.prepared import Prepared, PreparedCursor

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The largest integers the database stores: an INTEGER column holds 32 bits on PostgreSQL (money in minor
# units, counts, seeds), and SQLite binds at most 64 bits (ids compare against BIGINT). Request models
# bound their integers by these, so an out-of-range value is a 422, never a database error.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of every table (core, AMS and LMS share one metadata, never each other's rows)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON column: JSONB on PostgreSQL, JSON text on SQLite."""


SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    "synchronous=NORMAL",  # safe against application crashes in WAL mode (see the module docstring)
    "busy_timeout=30000",
    "wal_autocheckpoint=10000",  # pages (4 KiB each): checkpoint about every 40 MB of WAL, not every 4 MB
    "journal_size_limit=67108864",  # bytes: truncate the WAL back to 64 MiB after a checkpoint
)
"""Set on every new SQLite connection."""


_BEGIN_STATEMENTS = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves below
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: SQLAlchemy's execute path costs more than the BEGIN itself, and every
        # request opens several transactions (journal, tenant read, the view's own work).
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.connection.driver_connection.execute(_BEGIN_STATEMENTS[mode])


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the sandbox's per-backend settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine plus session factories; one per process and database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.backend = self.engine.dialect.name
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._read = sessionmaker(read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-write unit of work: commit on success, roll back on any exception."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (never takes SQLite's write lock)."""
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def prepared_transaction(self) -> Iterator[PreparedCursor]:
        """Several prepared statements in one read-write transaction: committed on success, rolled back
        on any exception (SQLite: ``BEGIN IMMEDIATE``, as :meth:`session` does)."""
        with self._prepared_cursor(begin=True) as cursor:
            yield cursor

    def first(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first row ``prepared`` returns, or ``None`` (one statement, its own transaction)."""
        with self._prepared_cursor() as cursor:
            return cursor.first(prepared, values)

    def all(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row ``prepared`` returns (one statement, its own transaction)."""
        with self._prepared_cursor() as cursor:
            return cursor.all(prepared, values)

    def run(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> int:
        """Run a write without RETURNING in its own transaction; how many rows it touched."""
        with self._prepared_cursor() as cursor:
            return cursor.run(prepared, values)

    @contextmanager
    def _prepared_cursor(self, begin: bool = False) -> Iterator[PreparedCursor]:
        # SQLite connections autocommit each statement (isolation_level=None, see _configure_sqlite);
        # PostgreSQL's driver opens a transaction with the first statement.
        connection = self.engine.raw_connection()
        explicit = begin and self.is_sqlite
        try:
            cursor = PreparedCursor(connection, self.engine.dialect)
            if explicit:
                cursor.begin()
            yield cursor
            cursor.commit(explicit)
        except DBAPIError as error:
            if error.connection_invalidated:
                connection.invalidate(error.orig)
            else:
                connection.rollback()
            raise
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any driver failure means "not ok" for /healthz
            return False
        return True

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (creates the schema on an empty database)."""
        from alembic import command

        command.upgrade(alembic_config(self), "heads")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(database: Database) -> Any:
    """An Alembic config bound to ``database`` (shares its engine through ``attributes``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    config.attributes["engine"] = database.engine
    return config


def serialize_in_transaction(session: Session, *name: str) -> None:
    """Hold a lock named by ``name`` until the transaction ends, so concurrent transactions that would
    read-then-insert the same thing take turns. SQLite's write transactions already hold the database
    lock (``BEGIN IMMEDIATE``); on PostgreSQL this is a transaction-level advisory lock on a stable
    64-bit key derived from ``name``. The unique constraint behind it stays the last guard."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(":".join(name).encode()).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)}
    )
