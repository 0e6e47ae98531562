"""Wall time of the scenario library: every ``scenarios/*.yaml`` file, the whole library, the slowest file.

One temporary sandbox is started exactly as ``sandbox scenario run`` starts one when nothing answers
(:func:`simulator.scenario.target.temporary_sandbox`: ``sandbox up --no-demo`` — gunicorn apps and a
worker process polling every 0.2 s — on free 127.0.0.1 ports over a temporary SQLite folder). Every file
found in the folder when the benchmark starts is run through the scenario runner
(:func:`simulator.scenario.runner.run_scenario`, real HTTP only, a fresh tenant per run, deleted
afterwards) ``--repeat`` times; a round runs each file once, in name order, and the library's time is a
round's total. Files that do not load (say, one still being written) are listed and skipped.

Per file the table shows the median of the whole run and where it went: ``setup`` (create and seed the
tenant, create the actors), ``steps`` (the file's own steps; ``waits`` is the part of them spent in
``wait_for`` polling for the worker's deliveries), ``teardown`` (deleting the tenant), and its slowest
step. Beside them, in the same run and against the same sandbox, the fixed parts alone:

- ``tenant create+seed`` / ``tenant delete``: ``POST /api/tenants`` with ``--baseline-members`` members and
  a frozen clock (what every run's setup pays before its actors), then ``DELETE`` (every run's teardown);
- ``sso_login saml|oidc|token``: one ``sso_login`` step alone (the first sign-in of a fresh tenant, as in a
  scenario: the LMS fetches the IdP metadata or discovery document, OIDC registers its client).

The machine is shared: numbers are noisy, which is why every figure is a median of ``--repeat`` runs.

Usage::

    .venv/bin/python benchmarks/scenarios.py [--repeat 3] [--folder scenarios] [--baseline-members 10]

Prints a table and writes ``benchmarks/results/scenarios.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from simulator.scenario.client import SandboxClient
from simulator.scenario.loader import LoadedScenario, ScenarioFileError, load_scenario, parse_scenario
from simulator.scenario.runner import RunResult, run_scenario, step_label
from simulator.scenario.target import temporary_sandbox

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scenarios.json"
CLOCK_START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
SSO_PROTOCOLS = ("saml", "oidc", "token")


def sso_baseline(protocol: str, members: int) -> LoadedScenario:
    """A scenario of one ``sso_login`` (the protocol is set in the settings, so the step only signs in)."""
    text = f"""\
name: baseline sso_login {protocol}
seed: {{faker_seed: 1, members: {members}}}
settings:
  sso: {{protocol: {protocol}}}
actors:
  alex: {{persona: active.member@demo.test}}
steps:
  - sso_login: {{actor: alex}}
"""
    return parse_scenario(text, f"baseline-sso-{protocol}.yaml")


def load_library(folder: Path) -> tuple[list[LoadedScenario], dict[str, str]]:
    """Every file of ``folder`` that loads, and the problems of those that do not."""
    loaded, invalid = [], {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            loaded.append(load_scenario(path))
        except ScenarioFileError as exc:
            invalid[path.name] = str(exc)
    return loaded, invalid


def timing(result: RunResult) -> dict[str, Any]:
    """One run's wall time split into setup, steps (of which ``wait_for`` polling) and teardown, plus each
    step's time (ms)."""
    steps = [entry.duration_ms for entry in result.steps]
    setup = result.setup.duration_ms
    return {
        "ok": result.ok,
        "total_ms": result.duration_ms,
        "setup_ms": setup,
        "steps_ms": sum(steps),
        "wait_for_ms": sum(entry.duration_ms for entry in result.steps if entry.step == "wait_for"),
        "teardown_ms": max(result.duration_ms - setup - sum(steps), 0.0),
        "step_ms": steps,
        "error": None if result.ok else (result.failed_step.error if result.failed_step else "failed"),
    }


def tenant_lifecycle(client: SandboxClient, members: int, round_index: int) -> dict[str, float]:
    tenant_id = f"bench-lifecycle-{round_index}-{os.getpid()}"
    started = time.perf_counter()
    client.create_tenant(tenant_id, seed=1, members=members, clock_start=CLOCK_START)
    created = time.perf_counter()
    client.delete_tenant(tenant_id)
    deleted = time.perf_counter()
    return {"create_seed_ms": (created - started) * 1000, "delete_ms": (deleted - created) * 1000}


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def summarize_file(loaded: LoadedScenario, runs: list[dict[str, Any]]) -> dict[str, Any]:
    steps = zip(loaded.scenario.steps, loaded.step_lines, strict=True)
    labels = [f"{step_label(step)} (line {line})" for step, line in steps]
    per_step = [median_ms([run["step_ms"][index] for run in runs]) for index in range(len(labels))]
    slowest = max(range(len(labels)), key=per_step.__getitem__) if labels else None
    return {
        "name": loaded.scenario.name,
        "steps": len(labels),
        "ok_runs": sum(run["ok"] for run in runs),
        "median_ms": median_ms([run["total_ms"] for run in runs]),
        "setup_median_ms": median_ms([run["setup_ms"] for run in runs]),
        "steps_median_ms": median_ms([run["steps_ms"] for run in runs]),
        "wait_for_median_ms": median_ms([run["wait_for_ms"] for run in runs]),
        "teardown_median_ms": median_ms([run["teardown_ms"] for run in runs]),
        "slowest_step": {"step": labels[slowest], "median_ms": per_step[slowest]}
        if slowest is not None
        else None,
        "runs_ms": [round(run["total_ms"], 1) for run in runs],
        "errors": [run["error"] for run in runs if run["error"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="Rounds (each file and baseline once per round)."
    )
    parser.add_argument(
        "--folder", type=Path, default=ROOT / "scenarios", help="Folder of the scenario files."
    )
    parser.add_argument(
        "--baseline-members", type=int, default=10, help="Generated members of baseline tenants."
    )
    args = parser.parse_args()

    library, invalid = load_library(args.folder)
    baselines = {protocol: sso_baseline(protocol, args.baseline_members) for protocol in SSO_PROTOCOLS}
    runs: dict[str, list[dict[str, Any]]] = {loaded.path.name: [] for loaded in library}
    library_ms: list[float] = []
    lifecycle: list[dict[str, float]] = []
    sso: dict[str, list[float]] = {protocol: [] for protocol in SSO_PROTOCOLS}
    sso_errors: list[str] = []

    started = time.perf_counter()
    with temporary_sandbox() as client:
        start_ms = (time.perf_counter() - started) * 1000
        for round_index in range(args.repeat):
            round_started = time.perf_counter()
            for loaded in library:
                runs[loaded.path.name].append(timing(run_scenario(loaded, client)))
            library_ms.append((time.perf_counter() - round_started) * 1000)
            lifecycle.append(tenant_lifecycle(client, args.baseline_members, round_index))
            for protocol, loaded in baselines.items():
                result = run_scenario(loaded, client)
                if result.ok:
                    sso[protocol].append(result.steps[0].duration_ms)
                else:
                    sso_errors.append(f"{protocol}: {timing(result)['error']}")

    files = {loaded.path.name: summarize_file(loaded, runs[loaded.path.name]) for loaded in library}
    slowest = max(files, key=lambda name: files[name]["median_ms"]) if files else None
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "setup": {
            "transport": "real HTTP on 127.0.0.1, `sandbox up --no-demo` (gunicorn apps, worker polls 0.2 s)",
            "database": "SQLite (WAL) in a temporary directory",
            "repeat": args.repeat,
            "files": len(library),
            "baseline_members": args.baseline_members,
            "sandbox_start_ms": round(start_ms, 1),
        },
        "library": {
            "median_ms": median_ms(library_ms),
            "runs_ms": [round(value, 1) for value in library_ms],
            "steps": sum(file["steps"] for file in files.values()),
            **{
                f"{part}_ms_sum_of_medians": round(
                    sum(file[f"{part}_median_ms"] for file in files.values()), 1
                )
                for part in ("setup", "steps", "wait_for", "teardown")
            },
        },
        "slowest": {"file": slowest, "median_ms": files[slowest]["median_ms"]} if slowest else None,
        "scenarios": files,
        "baseline": {
            "tenant_create_seed_ms": median_ms([run["create_seed_ms"] for run in lifecycle]),
            "tenant_delete_ms": median_ms([run["delete_ms"] for run in lifecycle]),
            **{f"sso_login_{protocol}_ms": median_ms(values) for protocol, values in sso.items()},
            "errors": sso_errors,
        },
        "invalid_files": invalid,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    setup = results["setup"]
    print(
        f"{setup['files']} files, median of {setup['repeat']} run(s) each (ms); "
        f"temporary sandbox started in {setup['sandbox_start_ms']:.0f} ms"
    )
    print(
        f"{'file':48} {'steps':>5} {'total':>8} {'setup':>8} {'steps':>8} {'waits':>8} {'teardown':>8}  "
        "slowest step"
    )
    for name, file in results["scenarios"].items():
        slowest = file["slowest_step"]
        failed = f"  FAILED {len(file['errors'])}x: {file['errors'][0]}" if file["errors"] else ""
        print(
            f"{name:48} {file['steps']:>5} {file['median_ms']:>8.0f} {file['setup_median_ms']:>8.0f} "
            f"{file['steps_median_ms']:>8.0f} {file['wait_for_median_ms']:>8.0f} "
            f"{file['teardown_median_ms']:>8.0f}  "
            f"{slowest['step'] if slowest else '-'} {slowest['median_ms'] if slowest else 0:.0f}{failed}"
        )
    library = results["library"]
    print(
        f"{'whole library':48} {library['steps']:>5} {library['median_ms']:>8.0f} "
        f"{library['setup_ms_sum_of_medians']:>8.0f} {library['steps_ms_sum_of_medians']:>8.0f} "
        f"{library['wait_for_ms_sum_of_medians']:>8.0f} {library['teardown_ms_sum_of_medians']:>8.0f}"
    )
    if results["slowest"]:
        print(f"slowest: {results['slowest']['file']} ({results['slowest']['median_ms']:.0f} ms)")
    baseline = results["baseline"]
    print(f"baseline (ms): tenant create+seed {baseline['tenant_create_seed_ms']:.0f}, ", end="")
    print(f"tenant delete {baseline['tenant_delete_ms']:.0f}, ", end="")
    print(", ".join(f"sso_login {p} {baseline[f'sso_login_{p}_ms']:.0f}" for p in SSO_PROTOCOLS))
    for error in baseline["errors"]:
        print(f"baseline failed: {error}")
    for name, problem in results["invalid_files"].items():
        print(f"skipped {name}: {problem.splitlines()[0]}")


if __name__ == "__main__":
    main()
