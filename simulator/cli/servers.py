"""Running the sandbox: ``up`` (everything), ``serve`` (one app), ``worker`` and ``migrate``."""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import httpx
from pydantic import SecretStr

from simulator.cli.common import load_settings, open_database, setup_logging
from simulator.config import ENV_PREFIX, SandboxConfig
from simulator.core import secrets_at_rest, tls
from simulator.core.db import Database
from simulator.supervisor import ChildSpec, CrashLoop, Supervisor

APPS = ("console", "ams", "lms")
PERSONAS_HELP = (
    "active.member@demo.test, grace.member@demo.test, lapsed.member@demo.test, student@demo.test, "
    "nonmember@demo.test, staff@demo.test (staff role); password: demo"
)


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
            click.option(
                "--tls",
                is_flag=True,
                default=None,
                help="Serve over HTTPS with a certificate from a local CA made once in the data folder "
                "(`sandbox tls ca` prints it).",
            ),
            click.option("--threads", type=int, help="Request threads per app (default 8)."),
            click.option(
                "--worker-class",
                type=click.Choice(["gthread", "gevent"]),
                help="gunicorn worker class: gthread (threads, default) or gevent (greenlets; load tests).",
            ),
        ]
    ):
        func = option(func)
    return func


def _child_env(config: SandboxConfig) -> dict[str, str]:
    """Environment that gives a child process exactly this configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) or k == tls.CA_BUNDLE_ENV}
    for name, value in config.model_dump().items():
        if value is not None:
            env[ENV_PREFIX + name.upper()] = (
                value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            )
    env[ENV_PREFIX + "ADMIN_KEY"] = config.effective_admin_key()
    env[ENV_PREFIX + "DATA_DIR"] = str(config.data_dir.resolve())
    return env


def _preload() -> None:
    """Import everything the children run, once, so each is forked ready (see :mod:`simulator.supervisor`)."""
    import simulator.ams.app
    import simulator.console.app
    import simulator.lms.app
    import simulator.server
    import simulator.worker  # noqa: F401 - imported for the children to inherit


def _serve_child(app: str, config: SandboxConfig) -> int:
    from simulator.server import serve_app

    serve_app(app, config)
    return 0


def _worker_child(config: SandboxConfig) -> int:
    from simulator.worker import run_worker

    run_worker(config)
    return 0


def child_specs(config: SandboxConfig, workers: int) -> list[ChildSpec]:
    """The apps and ``workers`` delivery workers; gevent apps start afresh (gevent patches before import)."""
    specs = []
    for app in APPS:
        if config.worker_class == "gevent":
            command = [sys.executable, "-m", "simulator.cli", "serve", app]
            specs.append(ChildSpec(app, app, command=command, env=_child_env(config)))
        else:
            specs.append(ChildSpec(app, app, run=functools.partial(_serve_child, app, config)))
    specs += [
        ChildSpec(f"worker-{index}", "worker", run=functools.partial(_worker_child, config))
        for index in range(1, workers + 1)
    ]
    return specs


def _wait_healthy(
    urls: list[str], supervisor: Supervisor, stopped: Callable[[], bool], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and not stopped():
        exited = supervisor.reap()
        if exited:
            raise click.ClickException(
                f"{', '.join(exited)} exited during start-up ({supervisor.children[exited[0]].last_exit}); "
                "see the messages above."
            )
        if time.monotonic() > deadline:
            raise click.ClickException(f"Timed out waiting for {', '.join(pending)} to answer.")
        try:
            if httpx.get(pending[0], timeout=1.0, verify=tls.client_verify()).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


@click.command()
@_server_options
@click.option("--no-demo", is_flag=True, help="Do not create the seeded demo tenant.")
@click.option("--workers", type=click.IntRange(0, 32), default=1, show_default=True, help="Delivery workers.")
@click.option("--no-worker", is_flag=True, help="Run no delivery worker (the same as --workers 0).")
@click.pass_context
def up(ctx: click.Context, no_demo: bool, workers: int, no_worker: bool, **flags: Any) -> None:
    """Start the AMS, LMS, console and worker(s), seeded with the demo tenant, and keep them running: a
    part that dies is restarted, the others keep serving. Ctrl-C stops everything."""
    from simulator.console.service import ensure_demo_tenant

    config = load_settings(ctx, **flags)
    setup_logging(config)
    tls_files = tls.configure(config)  # before the children fork: they serve these files and trust the CA
    _preload()
    open_database(config).dispose()  # the schema first: the children serve from it
    supervisor = Supervisor(config, child_specs(config, 0 if no_worker else workers))
    stopping = False

    def _on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    demo_key = None
    try:
        supervisor.start_all()
        if not no_demo:  # seeded while the children start (they do not need the demo tenant to serve)
            db = Database(config.resolved_database_url)
            try:
                demo_key = ensure_demo_tenant(db, config)
            finally:
                db.dispose()
        urls = [f"{url}/healthz" for url in (config.console_url, config.ams_url, config.lms_url)]
        _wait_healthy(urls, supervisor, lambda: stopping)
        if not stopping:
            _print_banner(config, demo_key, no_demo, 0 if no_worker else workers, tls_files)
        supervisor.run_until_stopped(lambda: stopping)
        click.echo("Stopping the sandbox…")
    except CrashLoop as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        supervisor.stop_all()


def _print_banner(
    config: SandboxConfig, demo_key: str | None, no_demo: bool, workers: int, tls_files: tls.TlsFiles | None
) -> None:
    """What a newcomer needs, printed in full (keys are never cut to fit a terminal)."""
    lines = [
        "",
        click.style("AMS–LMS Integration Sandbox is up", bold=True),
        f"  Console / control API  {config.console_url}   (docs: {config.console_url}/docs/)",
        f"  AMS                    {config.ams_url}/t/demo/   (docs: {config.ams_url}/docs/)",
        f"  LMS                    {config.lms_url}/t/demo/   (docs: {config.lms_url}/docs/)",
        f"  Admin key              {_admin_key_line(config)}",
        f"  Request workers        {_workers_description(config)}",
        f"  Delivery workers       {workers} (kept running: a process that dies is restarted)",
    ]
    if not no_demo:
        key = demo_key or "(shown when it was created; the admin key opens it too)"
        lines += [
            f"  Demo tenant key        {key}",
            f"  Demo accounts          {PERSONAS_HELP}",
        ]
    if tls_files is not None:
        lines.append(f"  HTTPS CA certificate   {tls_files.ca}   (trust it: see `sandbox tls ca`)")
    lines += [f"  Database               {config.resolved_database_url}", "", "Press Ctrl-C to stop."]
    click.echo("\n".join(lines))


def _admin_key_line(config: SandboxConfig) -> str:
    """The generated admin key (the newcomer needs it); one given by the environment is not echoed, so
    it never reaches a log that keeps what the sandbox prints."""
    if config.admin_key:
        return "the one SANDBOX_ADMIN_KEY sets"
    return f"{config.effective_admin_key()}   (kept in {config.ensure_data_dir() / 'admin_key'})"


def _workers_description(config: SandboxConfig) -> str:
    if config.worker_class == "gevent":
        return "gunicorn gevent (a greenlet per request), one process per app"
    return f"gunicorn gthread, {config.threads} threads in one process per app"


@click.command()
@click.argument("app", type=click.Choice(APPS))
@_server_options
@click.option("--workers", type=int, default=1, show_default=True, help="Gunicorn worker processes.")
@click.pass_context
def serve(ctx: click.Context, app: str, workers: int, **flags: Any) -> None:
    """Serve one app with gunicorn (the scale-out shape: run several against PostgreSQL)."""
    from simulator.server import serve_app

    config = load_settings(ctx, **flags)
    setup_logging(config)
    db = Database(config.resolved_database_url)
    try:  # here a key that opens no stored secret is one sentence, not a traceback from each worker
        secrets_at_rest.configure(config, db)
    finally:
        db.dispose()
    serve_app(app, config, workers=workers)


@click.command()
@click.option("--once", is_flag=True, help="Run one pass over due work, then exit.")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.pass_context
def worker(ctx: click.Context, once: bool, **flags: Any) -> None:
    """Run the background worker: due jobs and webhook deliveries. Several may share PostgreSQL."""
    from simulator.worker import run_worker

    config = load_settings(ctx, **flags)
    setup_logging(config)
    open_database(config).dispose()
    run_worker(config, once=once)


@click.command()
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite file in the data folder).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.pass_context
def migrate(ctx: click.Context, **flags: Any) -> None:
    """Create or upgrade the database schema (up and worker do this themselves)."""
    config = load_settings(ctx, **flags)
    open_database(config).dispose()
    click.echo(f"Database is at the latest schema: {config.resolved_database_url}")
