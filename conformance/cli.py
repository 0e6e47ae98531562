"""``sandbox certify``: run a conformance suite against a connector, list checks, write a target template.

Exit codes of ``sandbox certify SUITE``: 0 when every MUST check passed, 1 when one did not, 2 for a bad
target file, a connector that cannot be reached or bad usage (one plain sentence, never a traceback).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import httpx

from conformance.harness.reports import html_report, json_report, junit_xml, progress_line, summary_lines
from conformance.harness.runner import RunReport, TargetUnusable, UnknownCheck, run_checks, select
from conformance.harness.target import LoadedTarget, TargetFileError, load_target
from conformance.suites import load_suite, suite_names
from simulator.config import SandboxConfig, load_config
from simulator.core.errors import SandboxError
from simulator.scenario.client import ApiError, SandboxClient, call_failure
from simulator.scenario.target import TargetOptions, sandbox_target, target_options

log = logging.getLogger(__name__)
DEFAULT_TENANT = "acme"


class CertifyProblem(click.ClickException):
    """Bad usage, a bad target file or an unreachable connector: exit code 2."""

    exit_code = 2


def _config(ctx: click.Context) -> SandboxConfig:
    return load_config((ctx.obj or {}).get("config_file"))


def _urls(console: str, ams: str, lms: str) -> dict[str, str]:
    return {"console_url": console, "ams_url": ams, "lms_url": lms}


REFERENCE_TARGETS = Path(__file__).resolve().parent / "targets"


def _target_file(path: Path) -> Path:
    """``path``, or when no such file exists the reference target of that name shipped with the sandbox
    (``sandbox-lms`` is conformance/targets/sandbox-lms.yaml), so an installed sandbox can certify its own
    connectors."""
    if path.exists():
        return path
    reference = REFERENCE_TARGETS / f"{path.name.removesuffix('.yaml')}.yaml"
    if path.parent == Path() and reference.is_file():
        return reference
    return path


def _load(path: Path, suite_name: str, urls: dict[str, str]) -> LoadedTarget:
    suite = load_suite(suite_name)
    try:
        return load_target(path, suite.target_model, suite_name, urls)
    except TargetFileError as exc:
        raise CertifyProblem(exc.message) from exc


class CertifyGroup(click.Group):
    """``list``, ``init``, ``history``, and one command per suite, made (and the suite imported) on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *suite_names()]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in suite_names():
            return _suite_command(cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=CertifyGroup)
def certify() -> None:
    """Certify a connector someone else wrote: run a conformance suite against it, in honest and hostile
    conditions, and write reports CI can gate on (exit code 0 only when every MUST check passed)."""


@certify.command("list")
@click.argument("suite_name", metavar="[SUITE]", required=False, type=click.Choice(suite_names()))
def list_command(suite_name: str | None) -> None:
    """Every check of SUITE (or of every suite): id, level, title and the spec it enforces."""
    for name in [suite_name] if suite_name else suite_names():
        suite = load_suite(name)
        click.echo(click.style(f"{suite.name}: {suite.title} ({len(suite.checks)} checks)", bold=True))
        for check in suite.checks:
            click.echo(f"  {check.id:<18} {check.level:<6} {check.title}")
            click.echo(click.style(f"  {'':<18} {'':<6} {check.spec}", dim=True))


@certify.command("init")
@click.argument("suite_name", metavar="SUITE", type=click.Choice(suite_names()))
@click.option(
    "--tenant", default=DEFAULT_TENANT, show_default=True, help="The sandbox tenant the SP will trust."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("target.yaml"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def init_command(ctx: click.Context, suite_name: str, tenant: str, output: Path, force: bool) -> None:
    """Write a commented target file for SUITE and print the IdP metadata URL to configure the SP with
    (the tenant is created at the running sandbox, so the URL answers at once)."""
    if output.exists() and not force:
        raise CertifyProblem(f"{output} exists already; pass --force to overwrite it.")
    config = _config(ctx)
    metadata_url = f"{config.ams_url}/t/{tenant}/saml/metadata"
    template = load_suite(suite_name).template
    output.write_text(template.format(idp_metadata_url=metadata_url, tenant=tenant), encoding="utf-8")
    click.echo(f"Wrote {output}. Configure your SP with the sandbox IdP's metadata:\n  {metadata_url}")
    click.echo(_prepared_tenant(config, tenant))
    click.echo(f"Then edit {output} and run: sandbox certify {suite_name} --target {output}")


def _prepared_tenant(config: SandboxConfig, tenant: str) -> str:
    """Create the IdP tenant at the running sandbox, so its metadata answers now; say what happened."""
    try:
        with sandbox_target(config, start_if_down=False) as client:
            if client.find_tenant(tenant) is not None:
                return f"The tenant {tenant} exists at {client.console_url}; its IdP metadata is ready."
            client.create_tenant(tenant, name=f"Conformance IdP {tenant}")
            return f"Created the tenant {tenant} at {client.console_url}; its IdP metadata is ready."
    except SandboxError:
        return (
            f"No sandbox answers at {config.console_url}: start it (sandbox up) and run init again, "
            "so that the tenant exists."
        )
    except (ApiError, httpx.HTTPError) as exc:
        return f"The tenant {tenant} could not be created: {call_failure(exc)}"


@certify.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the JSON report (published as conformance/report.schema.json)."""
    from simulator.console.conformance_api import report_schema

    click.echo(json.dumps(report_schema(), indent=2, ensure_ascii=False))


@certify.command("history")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@target_options
@click.pass_context
def history_command(ctx: click.Context, limit: int, target: TargetOptions) -> None:
    """Past certification runs kept by the console of the sandbox --console-url names (or the configured
    one), newest first."""
    try:
        with sandbox_target(_config(ctx), start_if_down=False, options=target, apps=("console",)) as client:
            runs = client.conformance_runs(limit)
    except SandboxError as exc:
        raise CertifyProblem(exc.message) from exc
    except (ApiError, httpx.HTTPError) as exc:
        raise CertifyProblem(f"The sandbox did not answer as expected: {call_failure(exc)}") from exc
    if not runs:
        click.echo("No conformance runs yet.")
    for run in runs:
        verdict = "CERTIFIED" if run["ok"] else f"NOT CERTIFIED ({run['must_failed']} MUST failed)"
        click.echo(
            f"{run['id']:>5}  {run['started_at']}  {run['suite']:<10} {verdict:<28} {run['connector']}"
        )


def _write_reports(report: RunReport, junit: Path | None, json_path: Path | None, html: Path | None) -> None:
    for path, text in ((junit, junit_xml), (json_path, json_report), (html, html_report)):
        if path is not None:
            path.write_text(text(report), encoding="utf-8")
            click.echo(f"  wrote {path}")


def _store(client: SandboxClient, report: RunReport) -> None:
    try:
        stored = client.store_conformance_run(report.to_json())
    except (ApiError, httpx.HTTPError) as exc:
        click.echo(
            click.style(f"  the run could not be kept in the console: {call_failure(exc)}", fg="yellow")
        )
        return
    click.echo(f"  stored as run {stored['id']} ({client.console_url}/api/conformance-runs/{stored['id']})")


def _suite_command(suite_name: str) -> click.Command:
    suite = load_suite(suite_name)
    report_file = click.Path(dir_okay=False, path_type=Path)

    @click.command(
        suite_name, help=f"Certify a {suite.title}: {len(suite.checks)} checks. {suite.description}"
    )
    @click.option(
        "--target",
        "target_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The target file (see `sandbox certify init`), or a reference target shipped with the sandbox "
        "by name (sandbox-lms).",
    )
    @click.option("--junit", type=report_file, help="Write JUnit XML.")
    @click.option("--json", "json_path", type=report_file, help="Write the JSON report.")
    @click.option("--html", type=report_file, help="Write the HTML report.")
    @click.option(
        "--only",
        multiple=True,
        metavar="ID",
        help="Run only these checks (ids or patterns like 'SAML-SP-XSW-*').",
    )
    @click.option("--skip", multiple=True, metavar="ID", help="Leave these checks out (ids or patterns).")
    @click.option(
        "--keep", is_flag=True, help="Keep the test members and the SP registration afterwards (debugging)."
    )
    @click.option("--no-store", is_flag=True, help="Do not keep the run in the console's history.")
    @click.option(
        "--no-start", is_flag=True, help="Fail when no sandbox answers, instead of starting a temporary one."
    )
    @target_options
    @click.pass_context
    def run(
        ctx: click.Context,
        target_path: Path,
        junit: Path | None,
        json_path: Path | None,
        html: Path | None,
        only: tuple[str, ...],
        skip: tuple[str, ...],
        keep: bool,
        no_store: bool,
        no_start: bool,
        target: TargetOptions,
    ) -> None:
        config = _config(ctx)
        target_path = _target_file(target_path)
        try:
            checks = select(suite, only, skip)
        except UnknownCheck as exc:
            raise CertifyProblem(exc.message) from exc
        _load(
            target_path,
            suite_name,
            _urls(
                target.console_url or config.console_url,
                target.ams_url or config.ams_url,
                target.lms_url or config.lms_url,
            ),
        )
        try:
            with sandbox_target(config, start_if_down=not no_start, options=target) as client:
                loaded = _load(
                    target_path, suite_name, _urls(client.console_url, client.ams_url, client.lms_url)
                )
                click.echo(click.style(f"▶ {suite.title} — {len(checks)} checks — {target_path}", bold=True))
                with suite.open_world(loaded, client, keep) as world:
                    report = run_checks(
                        suite,
                        world,
                        checks,
                        str(target_path),
                        lambda r, i, n: click.echo(progress_line(r, i, n)),
                    )
                for line in summary_lines(report):
                    click.echo(line)
                if not no_store:
                    _store(client, report)
        except TargetUnusable as exc:
            raise CertifyProblem(exc.message) from exc
        except (ApiError, httpx.HTTPError) as exc:
            raise CertifyProblem(f"The sandbox did not answer as expected: {call_failure(exc)}") from exc
        except SandboxError as exc:
            raise CertifyProblem(exc.message) from exc
        _write_reports(report, junit, json_path, html)
        if not report.ok:
            ctx.exit(1)

    return run
