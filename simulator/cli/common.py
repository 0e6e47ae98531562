"""What every ``sandbox`` command shares: the error-reporting group, settings and the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

from simulator.config import SandboxConfig, load_config
from simulator.core.db import Database
from simulator.core.errors import SandboxError, ValidationFailed


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
    """The configured database, upgraded to the latest schema."""
    db = Database(config.resolved_database_url)
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
