"""The outbox on the database: ``outbox list`` and ``outbox replay``."""

from __future__ import annotations

from typing import Any

import click

from simulator.cli.common import (
    db_flags,
    echo_json,
    json_flag,
    load_settings,
    new_table,
    open_database,
    print_table,
)


@click.group()
def outbox() -> None:
    """List outbox messages (writebacks, webhooks) and replay dead letters."""


def attempt_history(attempts: list[dict[str, Any]]) -> str:
    """A message's attempts on one line: ``1 abandoned by host:41, 2 delivered 200 by host:57``."""
    return ", ".join(_attempt_words(attempt) for attempt in attempts)


def _attempt_words(attempt: dict[str, Any]) -> str:
    words = [str(attempt["number"]), attempt["outcome"]]
    if attempt["status"] is not None:
        words.append(str(attempt["status"]))
    if attempt["worker"]:
        words.append(f"by {attempt['worker']}")
    return " ".join(words)


@outbox.command("list")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose outbox to list.")
@click.option("--state", type=click.Choice(["pending", "in_flight", "delivered", "retrying", "dead"]))
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_flag
@db_flags
@click.pass_context
def outbox_list(
    ctx: click.Context, tenant_id: str, state: str | None, limit: int, as_json: bool, **flags: Any
) -> None:
    """Messages oldest first, with their state, attempts (each one: outcome, status and the worker that
    made it; "abandoned" when that worker stopped before finishing) and last status.

    --json prints what GET /api/tenants/{t}/outbox answers.
    """
    from simulator.core.outbox import list_messages
    from simulator.core.tenancy import get_tenant

    db = open_database(load_settings(ctx, **flags))
    with db.read() as session:
        get_tenant(session, tenant_id)
        listing = list_messages(session, tenant_id, state=state, limit=limit)
    if as_json:
        echo_json(listing)
        return
    table = new_table("id", "topic", "endpoint", "state", "attempts", "last status", "next attempt")
    for item in listing["items"]:
        table.add_row(
            str(item["id"]), item["topic"], item["endpoint"] or "", item["state"],
            attempt_history(item["attempt_history"]) or "none", str(item["last_status"] or ""),
            item["next_attempt_at"],
        )  # fmt: skip
    print_table(table)
    click.echo(", ".join(f"{name}: {count}" for name, count in sorted(listing["counts"].items())) or "empty")


@outbox.command("replay")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose dead letters to replay.")
@click.argument("message_id", type=int, required=False)
@click.option("--all-dead", is_flag=True, help="Replay every dead letter of the tenant.")
@db_flags
@click.pass_context
def outbox_replay(
    ctx: click.Context, tenant_id: str, message_id: int | None, all_dead: bool, **flags: Any
) -> None:
    """Send one dead letter (by id) or all of them (--all-dead) again."""
    from simulator.core.outbox import replay
    from simulator.core.tenancy import get_tenant

    if (message_id is None) == (not all_dead):
        raise click.UsageError("Give a message id or --all-dead (not both).")
    db = open_database(load_settings(ctx, **flags))
    with db.session() as session:
        get_tenant(session, tenant_id)
        count = replay(session, tenant_id, None if all_dead else [message_id])
    click.echo(f"Replayed {count} message{'s' if count != 1 else ''} of tenant '{tenant_id}'.")
