"""Tenants on the database: ``seed`` and ``tenant create|list|reset|delete``."""

from __future__ import annotations

import time
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


@click.command()
@click.option("--tenant", "tenant_id", required=True, help="Tenant to seed (created if missing).")
@click.option("--members", type=click.IntRange(0, 1_000_000), default=200, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=42, show_default=True, help="Faker seed.")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.pass_context
def seed(ctx: click.Context, tenant_id: str, members: int, seed: int, **flags: Any) -> None:
    """Replace a tenant's data with deterministic demo data: the personas plus N generated members.

    The same seed gives the same people, member ids and emails. (seed, members) becomes the tenant's
    seeded state, which `sandbox tenant reset` returns to.
    """
    from simulator.console import service
    from simulator.core.models import Tenant

    config = load_settings(ctx, **flags)
    db = open_database(config)
    started = time.perf_counter()
    with db.read() as session:
        exists = session.get(Tenant, tenant_id) is not None
    if exists:
        summary = service.reseed_tenant(db, config, tenant_id, seed, members)
        key_line = ""
    else:
        _, api_key, summary = service.create_seeded_tenant(db, config, tenant_id, seed=seed, members=members)
        key_line = f"\nCreated tenant '{tenant_id}'. Its API key (shown once): {api_key}"
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{n} {what}" for what, n in summary.counts().items())
    click.echo(f"Seeded tenant '{tenant_id}' with seed {seed}: {counts} in {elapsed:.2f}s.{key_line}")


@click.group()
def tenant() -> None:
    """Create, list, reset and delete tenants (directly on the database)."""


@tenant.command("create")
@click.argument("tenant_id")
@click.option("--name", help="Display name.")
@click.option("--members", type=click.IntRange(0, 1_000_000), default=0, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@db_flags
@click.pass_context
def tenant_create(
    ctx: click.Context, tenant_id: str, name: str | None, members: int, seed: int, **flags: Any
) -> None:
    """Create a seeded tenant and print its API key (shown once)."""
    from simulator.console import service

    config = load_settings(ctx, **flags)
    _, api_key, summary = service.create_seeded_tenant(
        open_database(config), config, tenant_id, name, seed=seed, members=members
    )
    click.echo(f"Created tenant '{tenant_id}' ({summary.counts()}). API key (shown once): {api_key}")


@tenant.command("list")
@json_flag
@db_flags
@click.pass_context
def tenant_list(ctx: click.Context, as_json: bool, **flags: Any) -> None:
    """List tenants (--json: what GET /api/tenants answers for the admin key)."""
    from simulator.console.service import tenant_summary
    from simulator.core.tenancy import list_tenants

    db = open_database(load_settings(ctx, **flags))
    with db.read() as session:
        tenants = [tenant_summary(item) for item in list_tenants(session)]
    if as_json:
        echo_json({"tenants": tenants})
        return
    if not tenants:
        click.echo("No tenants yet.")
        return
    table = new_table("id", "name", "seed", "members", "created")
    for item in tenants:
        table.add_row(
            item["id"], item["name"], str(item["seed"]), str(item["seed_members"]), item["created_at"]
        )
    print_table(table)


@tenant.command("reset")
@click.argument("tenant_id")
@db_flags
@click.pass_context
def tenant_reset(ctx: click.Context, tenant_id: str, **flags: Any) -> None:
    """Rebuild a tenant from its seeded state (its id and API key stay)."""
    from simulator.console import service

    config = load_settings(ctx, **flags)
    summary = service.reset_tenant(open_database(config), config, tenant_id)
    click.echo(f"Reset tenant '{tenant_id}' ({summary.counts()}).")


@tenant.command("delete")
@click.argument("tenant_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_flags
@click.pass_context
def tenant_delete(ctx: click.Context, tenant_id: str, yes: bool, **flags: Any) -> None:
    """Delete a tenant and everything it owns."""
    from simulator.core.tenancy import delete_tenant

    if not yes:
        click.confirm(f"Delete tenant '{tenant_id}' and all its data?", abort=True)
    db = open_database(load_settings(ctx, **flags))
    with db.session() as session:
        delete_tenant(session, tenant_id)
    click.echo(f"Deleted tenant '{tenant_id}'.")
