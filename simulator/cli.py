"""The ``sandbox`` command."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import httpx

from simulator import __version__
from simulator.config import ENV_PREFIX, SandboxConfig, describe_settings, load_config
from simulator.core.db import Database
from simulator.core.errors import SandboxError

APPS = ("console", "ams", "lms")
PERSONAS_HELP = (
    "active.member@demo.test, grace.member@demo.test, lapsed.member@demo.test, student@demo.test, "
    "nonmember@demo.test, staff@demo.test (staff role); password: demo"
)


class SandboxGroup(click.Group):
    """Reports a ``SandboxError`` as a plain sentence instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SandboxError as exc:
            raise click.ClickException(exc.message) from exc


def _config(ctx: click.Context, **overrides: Any) -> SandboxConfig:
    return load_config(ctx.obj.get("config_file"), overrides=overrides)


def _setup_logging(config: SandboxConfig) -> None:
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for chatty in ("alembic", "httpx", "httpcore", "faker"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _database(config: SandboxConfig) -> Database:
    db = Database(config.resolved_database_url)
    db.upgrade()
    return db


@click.group(cls=SandboxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sandbox")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="SANDBOX_CONFIG",
    help="TOML settings file.",
)
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """AMS–LMS Integration Sandbox: a fake AMS and LMS joined by real SSO, eCommerce and writeback.

    Settings come from flags, SANDBOX_* environment variables or a TOML file (see README).
    """
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file


def _server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--bind", help="Address to listen on (default 127.0.0.1)."),
            click.option("--console-port", type=int, help="Console/control API port (default 8000)."),
            click.option("--ams-port", type=int, help="AMS port (default 8001)."),
            click.option("--lms-port", type=int, help="LMS port (default 8002)."),
            click.option(
                "--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox)."
            ),
            click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder)."),
            click.option("--threads", type=int, help="Request threads per app (default 8)."),
        ]
    ):
        func = option(func)
    return func


def _child_env(config: SandboxConfig) -> dict[str, str]:
    """Environment that gives a child process exactly this configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in config.model_dump().items():
        if value is not None:
            env[ENV_PREFIX + name.upper()] = str(value)
    env[ENV_PREFIX + "ADMIN_KEY"] = config.effective_admin_key()
    env[ENV_PREFIX + "DATA_DIR"] = str(config.data_dir.resolve())
    return env


def _terminate_with_parent() -> None:
    """In a child, before exec: ask Linux to send SIGTERM when the parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_healthy(urls: list[str], processes: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        if any(process.poll() is not None for process in processes):
            raise click.ClickException("A sandbox process exited during start-up; see the messages above.")
        if time.monotonic() > deadline:
            raise click.ClickException(f"Timed out waiting for {', '.join(pending)} to answer.")
        url = pending[0]
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def _stop_all(processes: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@main.command()
@_server_options
@click.option("--no-demo", is_flag=True, help="Do not create the seeded demo tenant.")
@click.pass_context
def up(ctx: click.Context, no_demo: bool, **flags: Any) -> None:
    """Start the AMS, LMS, console and worker, seeded with the demo tenant. Ctrl-C stops everything."""
    from simulator.console.service import ensure_demo_tenant

    config = _config(ctx, **flags)
    _setup_logging(config)
    db = _database(config)
    demo_key = None if no_demo else ensure_demo_tenant(db, config)
    db.dispose()
    env = _child_env(config)
    command = [sys.executable, "-m", "simulator.cli"]
    # Children get their own session: Ctrl-C reaches only this process, which then stops each child in
    # order (SIGTERM: gunicorn's graceful shutdown), instead of racing the terminal's SIGINT to them all.
    # A child also gets SIGTERM if this process dies without cleaning up (Linux), so none is orphaned.
    spawn = {"env": env, "start_new_session": True, "preexec_fn": _terminate_with_parent}
    processes = [subprocess.Popen([*command, "serve", app], **spawn) for app in APPS]
    processes.append(subprocess.Popen([*command, "worker"], **spawn))
    stopping = False

    def _on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        _wait_healthy(
            [f"{url}/healthz" for url in (config.console_url, config.ams_url, config.lms_url)], processes
        )
        _print_banner(config, demo_key, no_demo)
        while not stopping:
            if any(process.poll() is not None for process in processes):
                raise click.ClickException("A sandbox process stopped unexpectedly; stopping the others.")
            time.sleep(0.2)
        click.echo("Stopping the sandbox…")
    finally:
        _stop_all(processes)


def _print_banner(config: SandboxConfig, demo_key: str | None, no_demo: bool) -> None:
    """What a newcomer needs, printed in full (keys are never cut to fit a terminal)."""
    lines = [
        "",
        click.style("AMS–LMS Integration Sandbox is up", bold=True),
        f"  Console / control API  {config.console_url}   (docs: {config.console_url}/docs/)",
        f"  AMS                    {config.ams_url}/t/demo/   (docs: {config.ams_url}/docs/)",
        f"  LMS                    {config.lms_url}/t/demo/   (docs: {config.lms_url}/docs/)",
        f"  Admin key              {config.effective_admin_key()}",
    ]
    if not no_demo:
        key = demo_key or "(shown when it was created; the admin key opens it too)"
        lines += [
            f"  Demo tenant key        {key}",
            f"  Demo accounts          {PERSONAS_HELP}",
        ]
    lines += [f"  Database               {config.resolved_database_url}", "", "Press Ctrl-C to stop."]
    click.echo("\n".join(lines))


@main.command()
@click.argument("app", type=click.Choice(APPS))
@_server_options
@click.option("--workers", type=int, default=1, show_default=True, help="Gunicorn worker processes.")
@click.pass_context
def serve(ctx: click.Context, app: str, workers: int, **flags: Any) -> None:
    """Serve one app with gunicorn (the scale-out shape: run several against PostgreSQL)."""
    from simulator.server import serve_app

    config = _config(ctx, **flags)
    _setup_logging(config)
    serve_app(app, config, workers=workers)


@main.command()
@click.option("--once", is_flag=True, help="Run one pass over due work, then exit.")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.pass_context
def worker(ctx: click.Context, once: bool, **flags: Any) -> None:
    """Run the background worker: due jobs and webhook deliveries. Several may share PostgreSQL."""
    from simulator.worker import run_worker

    config = _config(ctx, **flags)
    _setup_logging(config)
    _database(config).dispose()
    run_worker(config, once=once)


@main.command()
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.pass_context
def migrate(ctx: click.Context, **flags: Any) -> None:
    """Create or upgrade the database schema (up and worker do this themselves)."""
    config = _config(ctx, **flags)
    _database(config).dispose()
    click.echo(f"Database is at the latest schema: {config.resolved_database_url}")


@main.command()
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

    config = _config(ctx, **flags)
    db = _database(config)
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


@main.group()
def tenant() -> None:
    """Create, list, reset and delete tenants (directly on the database)."""


def _db_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder.")(func)
    return click.option("--database-url", help="SQLAlchemy URL.")(func)


@tenant.command("create")
@click.argument("tenant_id")
@click.option("--name", help="Display name.")
@click.option("--members", type=click.IntRange(0, 1_000_000), default=0, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@_db_flags
@click.pass_context
def tenant_create(
    ctx: click.Context, tenant_id: str, name: str | None, members: int, seed: int, **flags: Any
) -> None:
    """Create a seeded tenant and print its API key (shown once)."""
    from simulator.console import service

    config = _config(ctx, **flags)
    _, api_key, summary = service.create_seeded_tenant(
        _database(config), config, tenant_id, name, seed=seed, members=members
    )
    click.echo(f"Created tenant '{tenant_id}' ({summary.counts()}). API key (shown once): {api_key}")


@tenant.command("list")
@_db_flags
@click.pass_context
def tenant_list(ctx: click.Context, **flags: Any) -> None:
    """List tenants."""
    from rich.console import Console
    from rich.table import Table

    from simulator.core.tenancy import list_tenants

    db = _database(_config(ctx, **flags))
    with db.read() as session:
        tenants = list_tenants(session)
    if not tenants:
        click.echo("No tenants yet.")
        return
    table = Table("id", "name", "seed", "members", "created")
    for item in tenants:
        table.add_row(item.id, item.name, str(item.seed), str(item.seed_members), item.created_at.isoformat())
    Console().print(table)


@tenant.command("reset")
@click.argument("tenant_id")
@_db_flags
@click.pass_context
def tenant_reset(ctx: click.Context, tenant_id: str, **flags: Any) -> None:
    """Rebuild a tenant from its seeded state (its id and API key stay)."""
    from simulator.console import service

    config = _config(ctx, **flags)
    summary = service.reset_tenant(_database(config), config, tenant_id)
    click.echo(f"Reset tenant '{tenant_id}' ({summary.counts()}).")


@tenant.command("delete")
@click.argument("tenant_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_db_flags
@click.pass_context
def tenant_delete(ctx: click.Context, tenant_id: str, yes: bool, **flags: Any) -> None:
    """Delete a tenant and everything it owns."""
    from simulator.core.tenancy import delete_tenant

    if not yes:
        click.confirm(f"Delete tenant '{tenant_id}' and all its data?", abort=True)
    db = _database(_config(ctx, **flags))
    with db.session() as session:
        delete_tenant(session, tenant_id)
    click.echo(f"Deleted tenant '{tenant_id}'.")


@main.group()
def outbox() -> None:
    """List outbox messages (writebacks, webhooks) and replay dead letters."""


@outbox.command("list")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose outbox to list.")
@click.option("--state", type=click.Choice(["pending", "in_flight", "delivered", "retrying", "dead"]))
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@_db_flags
@click.pass_context
def outbox_list(ctx: click.Context, tenant_id: str, state: str | None, limit: int, **flags: Any) -> None:
    """Messages oldest first, with their state, attempts and last status."""
    from rich.console import Console
    from rich.table import Table

    from simulator.core.outbox import list_messages
    from simulator.core.tenancy import get_tenant

    db = _database(_config(ctx, **flags))
    with db.read() as session:
        get_tenant(session, tenant_id)
        listing = list_messages(session, tenant_id, state=state, limit=limit)
    table = Table("id", "topic", "endpoint", "state", "attempts", "last status", "next attempt")
    for item in listing["items"]:
        table.add_row(
            str(item["id"]), item["topic"], item["endpoint"] or "", item["state"], str(item["attempts"]),
            str(item["last_status"] or ""), item["next_attempt_at"],
        )  # fmt: skip
    Console().print(table)
    click.echo(", ".join(f"{name}: {count}" for name, count in sorted(listing["counts"].items())) or "empty")


@outbox.command("replay")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose dead letters to replay.")
@click.argument("message_id", type=int, required=False)
@click.option("--all-dead", is_flag=True, help="Replay every dead letter of the tenant.")
@_db_flags
@click.pass_context
def outbox_replay(
    ctx: click.Context, tenant_id: str, message_id: int | None, all_dead: bool, **flags: Any
) -> None:
    """Send one dead letter (by id) or all of them (--all-dead) again."""
    from simulator.core.outbox import replay
    from simulator.core.tenancy import get_tenant

    if (message_id is None) == (not all_dead):
        raise click.UsageError("Give a message id or --all-dead (not both).")
    db = _database(_config(ctx, **flags))
    with db.session() as session:
        get_tenant(session, tenant_id)
        count = replay(session, tenant_id, None if all_dead else [message_id])
    click.echo(f"Replayed {count} message{'s' if count != 1 else ''} of tenant '{tenant_id}'.")


@main.group()
def schema() -> None:
    """Print the JSON Schemas the sandbox publishes (for editors and validators)."""


@schema.command("settings")
def schema_settings() -> None:
    """The tenant settings document (also at GET /api/schema/settings)."""
    import json

    from simulator.core.settings import settings_schema

    click.echo(json.dumps(settings_schema(), indent=2))


@main.command("config")
def show_config() -> None:
    """List every setting, its environment variable and its default."""
    for env_name, default, description in describe_settings():
        click.echo(f"{env_name:<34} {default or '(unset)':<12} {description}")


if __name__ == "__main__":
    main()
