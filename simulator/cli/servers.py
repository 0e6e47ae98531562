"""Running the sandbox: ``up`` (everything), ``serve`` (one app), ``worker`` and ``migrate``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import httpx

from simulator.cli.common import load_settings, open_database, setup_logging
from simulator.config import ENV_PREFIX, SandboxConfig

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


@click.command()
@_server_options
@click.option("--no-demo", is_flag=True, help="Do not create the seeded demo tenant.")
@click.pass_context
def up(ctx: click.Context, no_demo: bool, **flags: Any) -> None:
    """Start the AMS, LMS, console and worker, seeded with the demo tenant. Ctrl-C stops everything."""
    from simulator.console.service import ensure_demo_tenant

    config = load_settings(ctx, **flags)
    setup_logging(config)
    db = open_database(config)
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
        f"  Request workers        {_workers_description(config)}",
    ]
    if not no_demo:
        key = demo_key or "(shown when it was created; the admin key opens it too)"
        lines += [
            f"  Demo tenant key        {key}",
            f"  Demo accounts          {PERSONAS_HELP}",
        ]
    lines += [f"  Database               {config.resolved_database_url}", "", "Press Ctrl-C to stop."]
    click.echo("\n".join(lines))


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
