"""Prepared statements for the hot path: a Core statement compiled once, run on the driver's cursor.

SQLAlchemy's execute path costs about 40 µs per statement (cache key, execution context, result
metadata, transaction events): more than SQLite takes to run an indexed lookup, and a sign-in runs some
thirty statements across its requests. A :class:`Prepared` statement is compiled once per dialect (and,
for an INSERT or UPDATE, per set of keys given, as Core does: a key naming a column is written to it)
and then run straight on a pooled DBAPI connection. Values still go through the column types' own bind
and result processors, so what is stored and read back is exactly what Core and the ORM store and read
(UTC datetimes, JSON documents, on SQLite and PostgreSQL).

Each :class:`Database` call is one statement in one transaction of its own (SQLite autocommits it;
PostgreSQL commits it); :meth:`Database.prepared_transaction` groups several writes. Only plain
statements are supported: no expanding ``IN`` lists and nothing else rendered at execution time.

Example::

    _MEMBER = Prepared(select(Member.member_id, Member.email).where(Member.tenant_id == bindparam("t")))
    row = db.first(_MEMBER, {"t": "acme"})       # a named tuple, or None
    row.member_id, row[1]
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


@dataclass
class CompiledStatement:
    """One statement as one dialect runs it: SQL text, parameter order and value converters.

    Result converters depend on the type codes the driver reports (``cursor.description``), so they are
    resolved on the first execution that returns rows.
    """

    sql: str
    positional: bool
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    bind_processors: tuple[Processor, ...]
    dialect: Dialect
    row_type: type | None = None
    result_types: tuple[TypeEngine[Any], ...] = ()
    result_processors: tuple[Processor, ...] | None = None

    def resolve_result_processors(self, description: Sequence[Sequence[Any]]) -> None:
        if self.result_processors is None:
            self.result_processors = tuple(
                type_.result_processor(self.dialect, column[1])
                for type_, column in zip(self.result_types, description, strict=True)
            )

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        converted = []
        for name, process in zip(self.names, self.bind_processors, strict=True):
            if name in values:
                value = values[name]
            elif name in self.defaults:
                value = self.defaults[name]
            else:
                raise ValueError(f"no value given for the statement's parameter {name!r}")
            converted.append(process(value) if process is not None else value)
        return converted if self.positional else dict(zip(self.names, converted, strict=True))

    def rows(self, raw_rows: Iterable[Sequence[Any]]) -> list[Any]:
        assert self.row_type is not None and self.result_processors is not None
        processors = self.result_processors
        return [
            self.row_type(
                *(
                    value if process is None or value is None else process(value)
                    for value, process in zip(raw, processors, strict=True)
                )
            )
            for raw in raw_rows
        ]


class Prepared:
    """A prebuilt Core statement that :class:`~simulator.core.db.Database` runs on the driver directly."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...] | None], CompiledStatement] = {}
        self._lock = threading.Lock()
        self._per_columns = isinstance(statement, (Insert, Update))

    def compiled_for(self, dialect: Dialect, values: Mapping[str, Any]) -> CompiledStatement:
        """The statement compiled for ``dialect``; an INSERT or UPDATE, as Core compiles it, for the keys of
        ``values`` (a key naming a column is written to it)."""
        columns = tuple(values) if self._per_columns else None
        key = (dialect.name, columns)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(dialect, columns)
            with self._lock:
                self._compiled[key] = compiled
        return compiled

    def _compile(self, dialect: Dialect, columns: tuple[str, ...] | None) -> CompiledStatement:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(columns) if columns else None)
        sql = compiled.string
        if "POSTCOMPILE" in sql:
            raise ValueError("a Prepared statement cannot hold parameters rendered at execution time")
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(dict.fromkeys(compiled.bind_names.values()))
        defaults: dict[str, Any] = {}
        processors: list[Processor] = []
        for name in names:
            bind = compiled.binds[name]
            if columns is not None and name not in columns and not bind.required and bind.value is None:
                raise ValueError(f"a Prepared INSERT or UPDATE needs a value for column {name!r}")
            if not bind.required:
                defaults[name] = bind.effective_value
            processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
        statement = CompiledStatement(
            sql=sql,
            positional=compiled.positional,
            names=names,
            defaults=defaults,
            bind_processors=tuple(processors),
            dialect=dialect,
        )
        returned = list(getattr(self.statement, "exported_columns", ()))
        if returned and (getattr(self.statement, "is_select", False) or compiled.effective_returning):
            fields = [column.key or f"column_{index}" for index, column in enumerate(returned)]
            statement.row_type = collections.namedtuple("Row", fields, rename=True)  # type: ignore[misc]
            statement.result_types = tuple(column.type.dialect_impl(dialect) for column in returned)
        return statement


class PreparedCursor:
    """Runs prepared statements on one DBAPI connection (one transaction: see ``Database``)."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def all(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row the statement returns (a SELECT, or a write with RETURNING)."""
        compiled, raw_rows = self._execute(prepared, values or {}, "all")
        return compiled.rows(raw_rows)

    def first(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first row, or ``None``."""
        compiled, raw_row = self._execute(prepared, values or {}, "first")
        return compiled.rows([raw_row])[0] if raw_row is not None else None

    def run(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> int:
        """Run a write without RETURNING; the number of rows it touched."""
        return self._execute(prepared, values or {}, "rowcount")[1]

    def _execute(
        self, prepared: Prepared, values: Mapping[str, Any], wanted: str
    ) -> tuple[CompiledStatement, Any]:
        compiled = prepared.compiled_for(self.dialect, values)
        parameters = compiled.parameters(values)
        cursor = self.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            if wanted != "rowcount" and compiled.result_processors is None:
                compiled.resolve_result_processors(cursor.description)
            if wanted == "all":
                return compiled, cursor.fetchall()
            if wanted == "first":
                return compiled, cursor.fetchone()
            return compiled, cursor.rowcount
        except self.dialect.loaded_dbapi.Error as error:
            raise self._translated(error, compiled.sql, parameters, cursor) from error
        finally:
            cursor.close()

    def begin(self) -> None:
        """Start a write transaction explicitly (SQLite only: its connections otherwise autocommit)."""
        self._control("BEGIN IMMEDIATE")

    def commit(self, explicit: bool) -> None:
        """End the transaction: ``COMMIT`` after :meth:`begin`, else the driver's commit."""
        self._control("COMMIT" if explicit else None)

    def _control(self, sql: str | None) -> None:
        try:
            if sql is None:
                self.connection.commit()
            else:
                self.connection.driver_connection.execute(sql)
        except self.dialect.loaded_dbapi.Error as error:
            raise self._translated(error, sql or "COMMIT", (), None) from error

    def _translated(self, error: Exception, sql: str, parameters: Any, cursor: Any) -> DBAPIError:
        """A driver error as SQLAlchemy reports it (IntegrityError, OperationalError …), so that callers
        catch one family whichever way a statement ran."""
        return DBAPIError.instance(
            sql,
            parameters,
            error,
            self.dialect.loaded_dbapi.Error,
            dialect=self.dialect,
            connection_invalidated=self.dialect.is_disconnect(error, self.connection, cursor),
        )
