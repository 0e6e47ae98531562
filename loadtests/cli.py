"""``sandbox loadtest PROFILE``: run a locust load profile against the sandbox, then reconcile.

The command prepares a tenant over the control API (a fresh one unless ``--tenant`` is given), applies the
``--fault`` rules for the run, starts locust headless (one process, or a master and ``--workers`` worker
processes on this machine; ``--master-host`` joins this machine's workers to a master elsewhere), lets
locust print its live statistics, removes the fault rules when locust stops, and reconciles what the users
sent against what the sandbox stored. Exit codes: 0 when nothing was lost or duplicated and the error
rate stayed under ``--max-error-rate``; 1 when not; 2 for bad usage, a sandbox that cannot be reached or a
load generator that stopped before the run finished (one plain sentence, never a traceback).

Bounded by construction: traffic goes to loopback addresses only unless ``--host`` names the sandbox's
host; the run stops at ``--run-time`` or ``--max-requests``, whichever comes first; every process it starts
is stopped (and killed if it must be) before it returns.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from loadtests import report as reports
from loadtests.plan import PLAN_ENV, Plan
from loadtests.profile import Finished, Profile
from loadtests.profiles import load_profile, profile_names
from simulator.config import load_config
from simulator.core import tls
from simulator.core.errors import SandboxError, ValidationFailed
from simulator.scenario.client import ApiError, SandboxClient, TenantClient, call_failure
from simulator.scenario.target import (
    TargetOptions,
    free_ports,
    sandbox_target,
    stop_process_group,
    target_options,
)

STOP_TIMEOUT_SECONDS = 15
"""How long stopping users may take to finish the task they are in (a delivery and its retries)."""
START_GRACE_SECONDS = 60
"""How long locust may take to start, and its workers to connect, before the run is given up."""
DEFAULT_MASTER_PORT = 5557
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")
MAX_RUN_SECONDS = 24 * 3600


class LoadtestProblem(click.ClickException):
    """Bad usage, an unreachable sandbox or a load generator that failed: exit code 2."""

    exit_code = 2


def parse_duration(text: str) -> float:
    """Seconds in ``30``, ``30s``, ``5m`` or ``1h30m`` (as locust's ``--run-time``); else ``ValueError``."""
    match = _DURATION.match(text.strip()) if text.strip() else None
    if not match or not any(match.groupdict().values()):
        raise ValueError(f"'{text}' is not a duration such as 30s, 5m or 1h30m.")
    hours, minutes, seconds = (float(match[name] or 0) for name in ("h", "m", "s"))
    total = hours * 3600 + minutes * 60 + seconds
    if not 0 < total <= MAX_RUN_SECONDS:
        raise ValueError(f"'{text}' must be more than 0 s and at most 24 h.")
    return total


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _options(profile: Profile, given: tuple[str, ...]) -> dict[str, Any]:
    pairs: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LoadtestProblem(f"--option takes NAME=VALUE, not {item!r}.")
        pairs[name.strip()] = value.strip()
    try:
        return profile.parse_options(pairs)
    except ValueError as exc:
        raise LoadtestProblem(str(exc)) from exc


def _fault_rules(given: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``--fault`` rules, parsed and checked as ``sandbox faults add --json`` checks them."""
    from simulator.cli.common import invalid_input
    from simulator.core.faults import parse_rule

    rules = []
    for text in given:
        try:
            rule = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LoadtestProblem(f"--fault {text!r} is not JSON ({exc.msg}).") from exc
        try:
            parse_rule(rule)
        except ValidationFailed as exc:
            problem = invalid_input(exc, lambda field: f"'{field}' in --fault", "fault rule")
            raise LoadtestProblem(problem.message) from exc
        rules.append(rule)
    return rules


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_hosts(urls: Mapping[str, str], allowed_host: str | None) -> None:
    for app, url in urls.items():
        host = urlsplit(url).hostname or ""
        if not _is_loopback(host) and host != allowed_host:
            raise LoadtestProblem(
                f"The sandbox's {app} at {url} is not on this machine: load tests send traffic to loopback "
                f"addresses only, unless you name the host with --host {host}."
            )


@dataclass
class RunSettings:
    users: int
    spawn_rate: float
    run_time: float
    max_requests: int
    workers: int
    expect_workers: int
    master_bind_host: str
    master_port: int
    csv_prefix: str | None
    pace: float = 0.0


@click.command("loadtest")
@click.argument("profile_name", metavar="PROFILE", type=click.Choice(profile_names()))
@click.option(
    "--users", "-u", type=click.IntRange(min=1), default=10, show_default=True, help="Users at full load."
)
@click.option(
    "--spawn-rate",
    "-r",
    type=click.FloatRange(min=0, min_open=True),
    help="Users started per second (default: all within one second).",
)
@click.option(
    "--run-time",
    "-t",
    default="30s",
    show_default=True,
    callback=_duration_option,
    help="How long the load runs (30s, 5m, 1h30m); always applied.",
)
@click.option(
    "--pace",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Each user runs at most one task per this many seconds: a steady rate (default: flat out).",
)
@click.option(
    "--tenant", "tenant_id", metavar="TENANT", help="Load this existing tenant instead of a fresh one."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="RULE",
    help="A fault rule for the run, as JSON (as `sandbox faults add --json` takes it); repeatable.",
)
@click.option(
    "--option",
    "-o",
    "profile_options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A profile option (see docs/loadtest.md); repeatable.",
)
@click.option("--csv", "csv_prefix", metavar="PREFIX", help="Write locust's CSV statistics with this prefix.")
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report."
)
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    help="Fail when more than this share of requests failed (0.01 is 1 %).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Stop once this many requests were made.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=0,
    show_default=True,
    help="Run locust distributed: a master and this many worker processes here.",
)
@click.option(
    "--expect-workers",
    type=click.IntRange(min=1),
    help="Workers to wait for in all, with those joining from other machines (default: --workers).",
)
@click.option(
    "--master-bind-host",
    default="127.0.0.1",
    show_default=True,
    help="Where the master listens for workers (0.0.0.0 for other machines).",
)
@click.option(
    "--master-port",
    type=click.IntRange(1, 65535),
    help=f"The master's port (default: a free one; {DEFAULT_MASTER_PORT} when other machines join).",
)
@click.option(
    "--master-host",
    metavar="HOST",
    help="Only run workers here (--workers, default 1), joining the master at HOST.",
)
@click.option(
    "--host",
    "allowed_host",
    metavar="HOST",
    help="Allow load on this non-loopback host (the sandbox's URLs name it).",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds to wait for in-flight deliveries before reconciling.",
)
@click.option(
    "--no-start", is_flag=True, help="Fail when no sandbox answers, instead of starting a temporary one."
)
@target_options
@click.pass_context
def loadtest(
    ctx: click.Context,
    profile_name: str,
    users: int,
    spawn_rate: float | None,
    run_time: float,
    pace: float,
    tenant_id: str | None,
    faults: tuple[str, ...],
    profile_options: tuple[str, ...],
    csv_prefix: str | None,
    html_path: Path | None,
    json_path: Path | None,
    max_error_rate: float | None,
    max_requests: int,
    workers: int,
    expect_workers: int | None,
    master_bind_host: str,
    master_port: int | None,
    master_host: str | None,
    allowed_host: str | None,
    drain_timeout: float,
    no_start: bool,
    target: TargetOptions,
) -> None:
    """Load-test the sandbox with a locust PROFILE, then reconcile: nothing lost, nothing duplicated.

    Profiles: writeback-ingest (connectors posting signed records to the AMS inbox), completion-storm
    (learners completing courses; the worker writes them back), sso-storm (SAML or OIDC sign-ins through
    the login form), checkout (carts, test cards, purchase to enrollment), exam-day (a weighted mix).
    """
    profile = load_profile(profile_name)
    options = _options(profile, profile_options)
    if master_host is not None:
        ctx.exit(
            _join_master(profile, master_host, master_port or DEFAULT_MASTER_PORT, max(workers, 1), run_time)
        )
    rules = _fault_rules(faults)
    remote = expect_workers is not None and expect_workers > workers
    settings = RunSettings(
        users=users,
        spawn_rate=spawn_rate or float(users),
        run_time=run_time,
        max_requests=max_requests,
        workers=workers,
        expect_workers=expect_workers or workers,
        master_bind_host=master_bind_host,
        master_port=master_port or (DEFAULT_MASTER_PORT if remote else free_ports(1)[0]),
        csv_prefix=csv_prefix,
        pace=pace,
    )
    if settings.expect_workers and not (workers or remote):
        raise LoadtestProblem(
            "--expect-workers needs --workers, or more workers than --workers from elsewhere."
        )
    config = load_config((ctx.obj or {}).get("config_file"))
    _check_hosts(
        {
            "console": target.console_url or config.console_url,
            "AMS": target.ams_url or config.ams_url,
            "LMS": target.lms_url or config.lms_url,
        },
        allowed_host,
    )
    try:
        with sandbox_target(config, start_if_down=not no_start, options=target) as client:
            _check_hosts(
                {"console": client.console_url, "AMS": client.ams_url, "LMS": client.lms_url}, allowed_host
            )
            document = _run(
                client, profile, options, tenant_id, rules, settings, drain_timeout, max_error_rate
            )
    except SandboxError as exc:
        raise LoadtestProblem(exc.message) from exc
    except (ApiError, httpx.HTTPError) as exc:
        raise LoadtestProblem(f"The sandbox did not answer as expected: {call_failure(exc)}") from exc
    for path, write in ((json_path, reports.json_text), (html_path, reports.html_text)):
        if path is not None:
            path.write_text(write(document), encoding="utf-8")
            click.echo(f"  wrote {path}")
    if not document["verdict"]["passed"]:
        ctx.exit(1)


def _tenant(client: SandboxClient, profile: Profile, tenant_id: str | None, run_id: str) -> TenantClient:
    if tenant_id is not None:
        if client.find_tenant(tenant_id) is None:
            raise LoadtestProblem(f"There is no tenant {tenant_id} at {client.console_url}.")
        return client.tenant(tenant_id)
    fresh = f"load-{profile.name.split('-')[0]}-{run_id}"
    click.echo(f"Creating tenant {fresh} for the run…")
    return client.create_tenant(
        fresh,
        name=f"Load test {profile.name} {run_id}",
        seed=7,
        members=profile.members,
        settings=dict(profile.settings),
    )


def _run(
    client: SandboxClient,
    profile: Profile,
    options: dict[str, Any],
    tenant_id: str | None,
    rules: list[dict[str, Any]],
    settings: RunSettings,
    drain_timeout: float,
    max_error_rate: float | None,
) -> dict[str, Any]:
    run_id = secrets.token_hex(3)
    tenant = _tenant(client, profile, tenant_id, run_id)
    try:
        data = profile.prepare(tenant, options)
    except ValueError as exc:
        raise LoadtestProblem(str(exc)) from exc
    fault_ids: list[int] = []
    sandbox_cpu = reports.SandboxCpu.start(client)
    with tempfile.TemporaryDirectory(prefix="sandbox-loadtest-") as folder:
        plan = Plan(
            profile=profile.name,
            run_id=run_id,
            tenant=tenant.tenant_id,
            tenant_key=tenant.key,
            console_url=client.console_url,
            ams_url=client.ams_url,
            lms_url=client.lms_url,
            run_time_seconds=settings.run_time,
            max_requests=settings.max_requests,
            result_path=str(Path(folder) / "result.json"),
            options=options,
            data=data,
            pace_seconds=settings.pace,
        )
        try:
            for rule in rules:
                fault_ids.append(tenant.set_fault(rule)["id"])
            _echo_start(profile, plan, settings)
            generator_cpu = _run_locust(plan, profile, settings, Path(folder))
        finally:
            for rule_id in fault_ids:
                with suppress(ApiError, httpx.HTTPError):
                    tenant.delete_fault(rule_id)
        result_file = Path(plan.result_path)
        if not result_file.exists():
            raise LoadtestProblem("Locust stopped before the run finished; its output is above.")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    cpu = sandbox_cpu.stop()
    seconds = max(result["stopped_at"] - result["started_at"], 0.001)
    click.echo(f"Reconciling (waiting up to {drain_timeout:.0f} s for in-flight deliveries)…")
    sections = profile.reconcile(Finished(tenant, plan, result["ledger"], seconds, drain_timeout))
    document = reports.document(plan, settings, rules, result, sections, cpu, generator_cpu, max_error_rate)
    reports.echo(document, sections)
    return document


def _echo_start(profile: Profile, plan: Plan, settings: RunSettings) -> None:
    where = f"{settings.workers} worker processes" if settings.workers else "one process"
    click.echo(
        click.style(
            f"▶ {profile.name}: {settings.users} users, {plan.run_time_seconds:g} s, tenant {plan.tenant}, "
            f"locust in {where}",
            bold=True,
        )
    )


def _locust_command(profile: Profile, *extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(profile.locustfile_path), *extra]


def _run_locust(plan: Plan, profile: Profile, settings: RunSettings, folder: Path) -> float:
    """Run locust until it stops by itself (its guard stops it at the run time or request cap), or kill it
    at the deadline; the load generator's CPU seconds. Its users verify https:// as this process does
    (the sandbox's CA, written to ``folder``)."""
    common = [
        "--headless",
        "--users",
        str(settings.users),
        "--spawn-rate",
        str(settings.spawn_rate),
        "--host",
        plan.ams_url,
        "--stop-timeout",
        str(STOP_TIMEOUT_SECONDS),
    ]
    if settings.csv_prefix:
        common += ["--csv", settings.csv_prefix]
    env = {
        **os.environ,
        **tls.child_trust_environment(folder),
        PLAN_ENV: plan.to_json(),
        "PYTHONUNBUFFERED": "1",
    }
    worker_env = {key: value for key, value in env.items() if key != PLAN_ENV}
    commands: list[tuple[list[str], dict[str, str]]] = []
    if settings.workers or settings.expect_workers:
        commands.append(
            (
                _locust_command(
                    profile,
                    *common,
                    "--master",
                    "--expect-workers",
                    str(settings.expect_workers),
                    "--expect-workers-max-wait",
                    str(START_GRACE_SECONDS),
                    "--master-bind-host",
                    settings.master_bind_host,
                    "--master-bind-port",
                    str(settings.master_port),
                ),
                env,
            )
        )
        worker = _locust_command(
            profile, "--worker", "--master-host", "127.0.0.1", "--master-port", str(settings.master_port)
        )
        commands += [(worker, worker_env)] * settings.workers
    else:
        commands.append((_locust_command(profile, *common), env))
    deadline = time.monotonic() + plan.run_time_seconds + STOP_TIMEOUT_SECONDS + START_GRACE_SECONDS
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with _processes(commands) as started:
        main = started[0]
        while main.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if main.poll() is None:
            click.echo(click.style("Locust did not stop at its run time; stopping it.", fg="yellow"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


@contextmanager
def _processes(commands: list[tuple[list[str], dict[str, str]]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start each command in its own session; afterwards stop every one for sure (TERM, then KILL)."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for command, env in commands:
            started.append(subprocess.Popen(command, env=env, start_new_session=True))
        yield started
        for process in started[1:]:
            with suppress(subprocess.TimeoutExpired):
                process.wait(10)
    finally:
        for process in started:
            stop_process_group(process)


def _join_master(profile: Profile, master_host: str, master_port: int, workers: int, run_time: float) -> int:
    """Run ``workers`` locust workers here for the master at ``master_host``; the plan comes from it."""
    click.echo(f"Joining {workers} worker(s) to the locust master at {master_host}:{master_port}…")
    command = _locust_command(
        profile, "--worker", "--master-host", master_host, "--master-port", str(master_port)
    )
    env = {key: value for key, value in os.environ.items() if key != PLAN_ENV}
    deadline = time.monotonic() + run_time + STOP_TIMEOUT_SECONDS + 2 * START_GRACE_SECONDS
    with _processes([(command, env)] * workers) as started:
        while any(p.poll() is None for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        codes = [p.poll() for p in started]
    return 0 if all(code == 0 for code in codes) else 2
