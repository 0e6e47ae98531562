"""The request journal on the database: ``journal tail`` (and ``--follow``, like ``tail -f``).

Filters are validated by the control API's model (:class:`simulator.console.journal_api.JournalQuery`)
and the entries come from :func:`simulator.core.journal.list_entries`, so the command and
``GET /api/tenants/{t}/journal`` always agree on what matches.

Example::

    sandbox journal tail --tenant demo --app ams --status 503 --follow
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from simulator.cli.common import db_flags, invalid_input, load_settings, open_database
from simulator.core.db import Database
from simulator.core.journal import JournalFilter, list_entries

PAGE_SIZE = 1000
POLL_SECONDS = 0.5


@click.group()
def journal() -> None:
    """Read a tenant's request journal.

    The journal holds every AMS and LMS request of a tenant, redacted and bounded (see
    docs/faults-and-journal.md). These commands read it directly from the database.
    """


def _read_after(
    db: Database, tenant_id: str, query: JournalFilter, take: Callable[[list[dict[str, Any]]], None]
) -> int:
    """Hand every entry after ``query.since`` to ``take``, a page at a time; return the next ``since``."""
    since = query.since
    while True:
        entries, since = list_entries(db, tenant_id, replace(query, since=since))
        take(entries)
        if len(entries) < query.limit:
            return since


def format_entry(entry: dict[str, Any]) -> str:
    """One journal entry as one line: time (UTC), app, method, path, status, latency and fault name."""
    at = dt.datetime.fromisoformat(entry["at"]).astimezone(dt.UTC)
    path = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
    status = "reset" if entry["status"] is None else str(entry["status"])
    fault = entry["fault"]
    fault_label = ""
    if fault:
        fault_label = f"  fault: {fault.get('name') or 'rule ' + str(fault.get('rule_id'))}"
    return (
        f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z  {entry['app']:<3}  {entry['method']:<7} {path}"
        f"  {status}  {entry['latency_ms']:.1f} ms{fault_label}"
    )


@journal.command("tail")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose journal to read.")
@click.option("--app", metavar="ams|lms", help="Only requests to this app.")
@click.option(
    "--path", metavar="GLOB", help="Only paths matching this glob; '/api/*' is relative to /t/TENANT."
)
@click.option("--status", type=int, help="Only responses with this status.")
@click.option("--method", help="Only requests with this method.")
@click.option(
    "--limit", type=int, default=10, show_default=True, help="How many of the newest entries to show."
)
@click.option("--follow/--no-follow", "-f", default=False, help="Keep printing new entries until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the control API's entry).")
@db_flags
@click.pass_context
def journal_tail(
    ctx: click.Context,
    tenant_id: str,
    limit: int,
    follow: bool,
    as_json: bool,
    database_url: str | None,
    data_dir: str | None,
    **filters: Any,
) -> None:
    """Show the newest entries; -f follows them.

    Prints the newest entries that match every filter, oldest first, one line each: time (UTC), app,
    method, path, status, latency and the name of the fault that fired. With --follow it keeps printing
    new entries, like tail -f, until Ctrl-C.

    \b
    Examples:
      sandbox journal tail --tenant demo --limit 50
      sandbox journal tail --tenant demo --app ams --path '/writeback/*' --status 503 --follow
      sandbox journal tail --tenant demo --follow --json | jq .fault
    """
    from pydantic import ValidationError

    from simulator.console.journal_api import JournalQuery
    from simulator.core.errors import validation_failed_from_pydantic
    from simulator.core.tenancy import get_tenant

    try:
        checked = JournalQuery.model_validate({**filters, "limit": limit})
    except ValidationError as exc:
        problem = validation_failed_from_pydantic(exc)
        raise invalid_input(problem, lambda field: "--" + field, "filter") from exc
    query = JournalFilter(**{**checked.model_dump(), "limit": PAGE_SIZE})
    db = open_database(load_settings(ctx, database_url=database_url, data_dir=data_dir))
    with db.read() as session:
        get_tenant(session, tenant_id)

    def show(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            click.echo(json.dumps(entry) if as_json else format_entry(entry))

    try:
        newest, since = list_entries(db, tenant_id, replace(query, limit=limit, newest=True))
        show(newest)
        while follow:
            since = _read_after(db, tenant_id, replace(query, since=since), show)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        db.dispose()
