"""``sandbox scenario``: run, list and validate scenario files, print their schema, show past runs."""

from __future__ import annotations

from pathlib import Path

import click
import httpx

from simulator.config import SandboxConfig, load_config
from simulator.scenario.client import ApiError, call_failure
from simulator.scenario.loader import LoadedScenario, ScenarioFileError, load_scenario, scenario_files
from simulator.scenario.packaged import default_folder, find_in_library, library_files
from simulator.scenario.report import json_report, junit_xml, print_timeline
from simulator.scenario.runner import RunResult, run_scenario
from simulator.scenario.schema import schema_text
from simulator.scenario.target import TargetOptions, sandbox_target, target_options

LIBRARY_HELP = "Read the scenario library shipped with the sandbox, even where ./scenarios exists."


def _config(ctx: click.Context) -> SandboxConfig:
    return load_config((ctx.obj or {}).get("config_file"))


def _resolve(names: tuple[str, ...], library: bool) -> list[Path]:
    """Each name as a file or folder, or else as a library file (``13``, ``13-token-handoff-sign-in``);
    no names: ./scenarios, or the packaged library when there is none (or with ``--library``)."""
    if not names:
        return [default_folder(library)]
    paths = []
    for name in names:
        path = Path(name)
        found = None if library else (path if path.exists() else None)
        found = found or find_in_library(name)
        if found is None:
            raise click.ClickException(
                f"{name}: no such file or folder, and no library scenario is called that "
                "(see `sandbox scenario list --library`)."
            )
        paths.append(found)
    return paths


def _load_all(targets: list[Path]) -> list[LoadedScenario]:
    """Every file under ``targets``, all validated before any runs (errors listed together)."""
    loaded, problems = [], []
    for target in targets:
        files = scenario_files(target)
        if not files:
            raise click.ClickException(f"{target}: no scenario files (*.yaml) there.")
        for path in files:
            try:
                loaded.append(load_scenario(path))
            except ScenarioFileError as exc:
                problems += [str(problem) for problem in exc.problems]
    if problems:
        raise click.ClickException("invalid scenario file:\n" + "\n".join(problems))
    return loaded


@click.group()
def scenario() -> None:
    """Scenario files (scenarios/*.yaml): run them against the sandbox, list and validate them. Without a
    file, commands read ./scenarios, or the library shipped with the sandbox when there is none."""


@scenario.command("run")
@click.argument("targets", nargs=-1)
@click.option("--library", is_flag=True, help=LIBRARY_HELP)
@click.option(
    "--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report."
)
@click.option("--keep-tenant", is_flag=True, help="Keep each run's tenant (default: delete it afterwards).")
@click.option("--no-store", is_flag=True, help="Do not keep the runs in the console's history.")
@click.option(
    "--no-start", is_flag=True, help="Fail when no sandbox answers, instead of starting a temporary one."
)
@target_options
@click.pass_context
def run_command(
    ctx: click.Context,
    targets: tuple[str, ...],
    library: bool,
    junit_path: Path | None,
    json_path: Path | None,
    keep_tenant: bool,
    no_store: bool,
    no_start: bool,
    target: TargetOptions,
) -> None:
    """Run scenario FILEs or every file of a DIR; prints a timeline and exits 1 when any fails.

    A name that is no file is looked up in the scenario library (``13`` runs
    13-token-handoff-sign-in.yaml); no name runs ./scenarios, or the whole library when there is none.

    Runs against the sandbox that --console-url, --ams-url and --lms-url name (with --admin-key or
    --admin-key-file), and then never starts one; without them, against the configured sandbox (its URLs
    and admin key come from the sandbox settings), and when nothing answers there a temporary sandbox is
    started and stopped again.

    \b
    Example (a CI job and a remote sandbox):
      sandbox scenario run scenarios/ --console-url https://sbx.example.org:8000 \\
        --ams-url https://sbx.example.org:8001 --lms-url https://sbx.example.org:8002 \\
        --admin-key-file /run/secrets/sandbox-admin-key --junit scenarios.xml
    """
    loaded = _load_all(_resolve(targets, library))
    results: list[RunResult] = []
    try:
        with sandbox_target(_config(ctx), start_if_down=not no_start, options=target) as client:
            for item in loaded:
                result = run_scenario(item, client, keep_tenant=keep_tenant)
                print_timeline(result)
                if not no_store:
                    stored = client.store_scenario_run(result.to_json())
                    run_url = f"{client.console_url}/api/scenario-runs/{stored['id']}"
                    click.echo(f"  stored as run {stored['id']} ({run_url})")
                results.append(result)
    except (ApiError, httpx.HTTPError) as exc:
        raise click.ClickException(f"The sandbox did not answer as expected: {call_failure(exc)}") from exc
    if junit_path:
        junit_path.write_text(junit_xml(results), encoding="utf-8")
    if json_path:
        json_path.write_text(json_report(results), encoding="utf-8")
    failed = [r for r in results if not r.ok]
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed.")
    if failed:
        ctx.exit(1)


@scenario.command("list")
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--library", is_flag=True, help=LIBRARY_HELP)
def list_command(folder: Path | None, library: bool) -> None:
    """The scenario files of FOLDER (default ./scenarios, or the shipped library when there is none):
    name, steps and whether each is valid."""
    for path in scenario_files(folder or default_folder(library)):
        try:
            loaded = load_scenario(path)
        except ScenarioFileError as exc:
            click.echo(f"{path.name:<48} INVALID  {exc.problems[0]}")
            continue
        click.echo(f"{path.name:<48} {len(loaded.scenario.steps):>3} steps  {loaded.scenario.name}")


@scenario.command("validate")
@click.argument("targets", nargs=-1)
@click.option("--library", is_flag=True, help=LIBRARY_HELP)
def validate_command(targets: tuple[str, ...], library: bool) -> None:
    """Check scenario FILEs (or DIRs, or library names) without running them: file:line: message for each
    mistake."""
    loaded = _load_all(_resolve(targets, library))
    for item in loaded:
        click.echo(f"{item.path}: ok ({len(item.scenario.steps)} steps)")


@scenario.command("init")
@click.argument("name")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: the file's name."
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_command(name: str, output: Path | None, force: bool) -> None:
    """Copy library scenario NAME (``05``, ``05-ams-outage-during-writeback``…) here, to start a story of
    your own from it, with the schema editors use beside it."""
    found = find_in_library(name)
    if found is None:
        known = ", ".join(path.stem for path in library_files())
        raise click.ClickException(f"No library scenario is called {name!r} (the library: {known}).")
    output = output or Path(found.name)
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists already; pass --force to overwrite it.")
    schema = output.parent / "schema.json"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(found.read_text(encoding="utf-8"), encoding="utf-8")
        if not schema.exists():
            schema.write_text(schema_text(), encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"Cannot write {exc.filename or output}: {exc.strerror}.") from exc
    click.echo(
        f"Wrote {output} (from the library's {found.name}). Edit it, then: sandbox scenario run {output}"
    )


@scenario.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of scenario files (published as scenarios/schema.json)."""
    click.echo(schema_text(), nl=False)


@scenario.command("history")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@target_options
@click.pass_context
def history_command(ctx: click.Context, limit: int, target: TargetOptions) -> None:
    """Past runs kept by the console of the sandbox --console-url names (or the configured one), newest
    first."""
    try:
        with sandbox_target(_config(ctx), start_if_down=False, options=target, apps=("console",)) as client:
            runs = client.scenario_runs(limit)
    except (ApiError, httpx.HTTPError) as exc:
        raise click.ClickException(f"The sandbox did not answer as expected: {call_failure(exc)}") from exc
    if not runs:
        click.echo("No scenario runs yet.")
    for run in runs:
        verdict = "PASS" if run["ok"] else f"FAIL at step {run['failed_step']}"
        click.echo(f"{run['id']:>5}  {run['started_at']}  {verdict:<16} {run['scenario']}")
