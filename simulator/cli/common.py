"""What every ``sandbox`` command shares: the error-reporting group, settings, the database, tables and
``--json``."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from simulator.config import SandboxConfig, load_config
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.core.errors import SandboxError, ValidationFailed

if TYPE_CHECKING:
    from rich.table import Table

UNBOUNDED_WIDTH = 1_000_000


class SandboxGroup(click.Group):
    """Reports a ``SandboxError`` as a plain sentence instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SandboxError as exc:
            raise click.ClickException(exc.message) from exc


def load_settings(ctx: click.Context, **overrides: Any) -> SandboxConfig:
    """The configuration: the ``--config`` file and environment, then these command-line flags."""
    return load_config(ctx.obj.get("config_file"), overrides=overrides)


def setup_logging(config: SandboxConfig) -> None:
    """Log at the configured level, keeping chatty libraries at warnings."""
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for chatty in ("alembic", "httpx", "httpcore", "faker"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def open_database(config: SandboxConfig) -> Database:
    """The configured database, upgraded to the latest schema, and this process's secret key set up."""
    db = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)  # before the upgrade: a migration may encrypt what it finds
    db.upgrade()
    return db


def db_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--database-url`` and ``--data-dir`` to a command that works directly on the database."""
    func = click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder.")(func)
    return click.option("--database-url", help="SQLAlchemy URL.")(func)


def invalid_input(exc: ValidationFailed, where: Callable[[str], str], subject: str) -> click.ClickException:
    """One sentence about the first problem ``exc`` names; ``where(field)`` says which option set it.

    A problem with the whole ``subject`` (no single field) reads "Invalid fault rule: …".
    """
    first = exc.errors[0] if exc.errors else {"field": "(body)", "message": exc.message}
    if first["field"] == "(body)":
        return click.ClickException(f"Invalid {subject}: {first['message']}.")
    return click.ClickException(f"Invalid value for {where(first['field'])}: {first['message']}.")


def json_flag(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json`` (as ``as_json``) to a command that prints a table."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the same data as one JSON document instead of a table."
    )(func)


def echo_json(document: Any) -> None:
    """Print ``document`` as one JSON document (what ``--json`` prints)."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def new_table(*columns: str, **options: Any) -> Table:
    """A table whose long cells fold onto more lines rather than being cut."""
    from rich.table import Column, Table

    return Table(*(Column(name, overflow="fold") for name in columns), **options)


def print_table(table: Table) -> None:
    """Print ``table`` to stdout: fitted to a terminal's width, and when stdout is not a terminal (a pipe,
    a file, a CI log) as wide as its longest values, so that no value is cut or wrapped.

    Whether stdout is a terminal is asked of stdout itself: rich takes ``FORCE_COLOR``, which CI services
    set for coloured logs, as a terminal of 80 columns.
    """
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    if not sys.stdout.isatty():
        console.width = UNBOUNDED_WIDTH
        console.width = Measurement.get(console, console.options, table).maximum
    console.print(table)
