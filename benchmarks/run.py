"""Runs every benchmark, one after another, and writes one report of them: JSON, Markdown and charts.

Each benchmark is a script of this folder, run as a subprocess (``sys.executable benchmarks/NAME.py
ARGS``, from the repository root, its output streamed) that writes ``benchmarks/results/NAME.json``. A
benchmark that fails, or whose script is missing, is reported and the others still run; the exit status
is then 1. The parameters; ``--quick`` ones are for trying the runner out (about 2 minutes in all), not
for numbers:

===========  ===================================================  ======================================
benchmark    default                                              --quick
===========  ===================================================  ======================================
startup      --repeat 5                                           --repeat 1
seed         --sizes 1000,10000,100000                            --sizes 100,1000
sso          --seconds 10 --runs 3 --clients 16                   --seconds 1 --raw-seconds 0.2 --runs 1
             --client-processes 2                                 --clients 2 --client-processes 1
checkout     --checkouts 300 --concurrency 4 --samples 40         --checkouts 4 --concurrency 2
                                                                  --samples 2
writeback    --records 20000 --repeat 3 --nightly 10000,100000    --records 100 --repeat 1 --nightly 100
scenarios    --repeat 3                                           --repeat 1
conformance  --repeat 3                                           --repeat 1
loadtest     (its own defaults)                                   --quick
soak         --minutes 10                                         --quick (one minute)
console      --repeat 30                                          --repeat 5
===========  ===================================================  ======================================

The defaults take about 15 minutes on two cores before loadtest (estimated from the rates of a quick
run: writeback's nightly batch of 100,000 is the largest part), leaving loadtest about ten of the 25
minutes a whole run should stay within. When ``SANDBOX_TEST_POSTGRES_URL`` is set (``make bench`` runs
this under ``scripts/with-test-services.sh``, which starts PostgreSQL and sets it), seed measures on
PostgreSQL too (``--database-url``). loadtest is given nothing but ``--quick``: its PostgreSQL runs are
its own business (under ``make bench`` PostgreSQL is up and the variable set).

Outputs, in ``benchmarks/results/``:

- ``results.json``: every benchmark's JSON under its name (``results``) beside its ``run``: the command,
  when it started, at which commit (``git rev-parse HEAD``), how long it took and its exit status;
- ``results.md``: one table per benchmark with its headline comparisons as ratios (writeback over HTTP
  as a share of the bare insert, sign-ins/s beside raw sign+verify ops/s, checkouts/s, the scenario
  library's wall time, seeding at each size, the suite beside plain sign-ins, start-up beside one
  import, the load test's targets met or not), each chart embedded by relative path;
- ``charts/*.png`` (matplotlib, Agg): writeback ingest paths vs bare insert, nightly batch, sign-ins/s vs
  raw, checkouts/s, scenario wall time per scenario, seeding time vs size, suite vs plain sign-ins,
  start-up, and from loadtest p50/p95/p99 and records/s vs users of writeback ingest (a line per
  database: where it saturates) and the SSO storm vs its baseline. A chart whose data is missing is
  skipped, with a note in the Markdown.

A benchmark left out (``--only``) keeps its JSON file, and the details of the run that wrote it when
that was a run of this script; a failed run's stale JSON file is not reported as its result.
``--report-only`` runs nothing: it rebuilds the three outputs from the JSON files found there.

This file runs the benchmarks and collects their results; ``bench_report.py`` writes results.md and draws
the charts (with the Markdown and matplotlib helpers of ``bench_render.py``). Both are modules of this
folder, imported by name: run this file as a script, as below, so that the folder is ``sys.path[0]``.

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...]
    .venv/bin/python benchmarks/run.py --report-only
    make bench [BENCH_ARGS="--only seed sso"]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_report import report, status

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHARTS = RESULTS / "charts"
POSTGRES_URL = "SANDBOX_TEST_POSTGRES_URL"

log = logging.getLogger("benchmarks.run")


@dataclass(frozen=True)
class Benchmark:
    """One script of this folder and its parameters."""

    name: str
    default_args: str
    quick_args: str
    postgres_option: str | None = None  # given the PostgreSQL URL when SANDBOX_TEST_POSTGRES_URL is set

    def command(self, quick: bool) -> tuple[list[str], list[str]]:
        """The command to run, and the same with the PostgreSQL URL (it holds a password) as its name."""
        args = [f"benchmarks/{self.name}.py", *(self.quick_args if quick else self.default_args).split()]
        shown = list(args)
        if self.postgres_option and os.environ.get(POSTGRES_URL):
            args += [self.postgres_option, os.environ[POSTGRES_URL]]
            shown += [self.postgres_option, f"${POSTGRES_URL}"]
        return [sys.executable, *args], ["python", *shown]


BENCHMARKS = (
    Benchmark("startup", "--repeat 5", "--repeat 1"),
    Benchmark("seed", "--sizes 1000,10000,100000", "--sizes 100,1000", "--database-url"),
    Benchmark(
        "sso",
        "--seconds 10 --runs 3 --clients 16 --client-processes 2",
        "--seconds 1 --raw-seconds 0.2 --runs 1 --clients 2 --client-processes 1",
    ),
    Benchmark(
        "checkout",
        "--checkouts 300 --concurrency 4 --samples 40",
        "--checkouts 4 --concurrency 2 --samples 2",
    ),
    Benchmark(
        "writeback",
        "--records 20000 --repeat 3 --nightly 10000,100000",
        "--records 100 --repeat 1 --nightly 100",
    ),
    Benchmark("scenarios", "--repeat 3", "--repeat 1"),
    Benchmark("conformance", "--repeat 3", "--repeat 1"),
    Benchmark("loadtest", "", "--quick"),
    Benchmark("soak", "--minutes 10", "--quick"),
    Benchmark("console", "--repeat 30", "--repeat 5"),
)
NAMES = [benchmark.name for benchmark in BENCHMARKS]


# --- running ----------------------------------------------------------------------------------------


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_commit() -> dict[str, Any] | None:
    """The checked-out commit and whether tracked files differ from it, or None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, cwd=ROOT, capture_output=True, text=True
        )
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return {"sha": head.stdout.strip(), "uncommitted_changes": bool(changes.stdout.strip())}


def read_json(path: Path) -> Any:
    """The document in ``path``, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        log.warning("%s is not JSON (%s): left out", path.relative_to(ROOT), exc)
        return None


def modified_ns(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def run_benchmark(benchmark: Benchmark, quick: bool, commit: dict[str, Any] | None) -> dict[str, Any]:
    """Runs one benchmark with its output streamed; its entry of results.json.

    ``results`` is the JSON it wrote during this run: a file left by an earlier run is not taken for it.
    """
    command, shown = benchmark.command(quick)
    script, output = ROOT / command[1], RESULTS / f"{benchmark.name}.json"
    print(f"\n=== {benchmark.name}: {' '.join(shown)}", flush=True)
    written_before, started_at, started = modified_ns(output), now(), time.perf_counter()
    exit_code: int | None = None
    if not script.exists():
        error: str | None = f"{command[1]} does not exist"
    else:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stream the script's output as it comes
        exit_code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        error = f"exit status {exit_code}" if exit_code else None
    seconds = round(time.perf_counter() - started, 1)
    written = modified_ns(output) not in (None, written_before)
    if error is None and not written:
        error = f"it wrote no {output.relative_to(ROOT)}"
    if error:
        print(f"=== {benchmark.name} FAILED after {seconds} s: {error}", flush=True)
    else:
        print(f"=== {benchmark.name} done in {seconds} s", flush=True)
    run = {"command": shown, "started_at": started_at, "seconds": seconds, "exit_code": exit_code}
    run |= {"commit": commit, "quick": quick}
    return {"run": run, "error": error, "results": read_json(output) if written else None}


def kept_entry(name: str, previous: dict[str, Any]) -> dict[str, Any]:
    """The entry of a benchmark not run now: its JSON file, with the run that wrote it if it is known."""
    results = read_json(RESULTS / f"{name}.json")
    earlier = previous.get(name)
    if isinstance(earlier, dict) and earlier.get("results") == results:
        return earlier
    return {"run": None, "error": None, "results": results}


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Tiny parameters, to try the runner out.")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"Run only these: {NAMES}.")
    parser.add_argument("--report-only", action="store_true", help="Run nothing; rebuild the report.")
    args = parser.parse_args()
    if args.report_only and (args.quick or args.only):
        parser.error("--report-only runs nothing: it takes neither --quick nor --only")
    started_at, started = now(), time.perf_counter()
    previous = read_json(RESULTS / "results.json") or {}
    commit = git_commit()
    ran: dict[str, dict[str, Any]] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for benchmark in BENCHMARKS:
            if not args.only or benchmark.name in args.only:
                ran[benchmark.name] = run_benchmark(benchmark, args.quick, commit)
    kept = previous.get("benchmarks", {})
    document = {
        "generated_at": now(),
        "commit": commit,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "this_run": {"started_at": started_at, "seconds": round(time.perf_counter() - started, 1)}
        | {"report_only": args.report_only, "quick": args.quick, "only": args.only},
        "benchmarks": {name: ran.get(name) or kept_entry(name, kept) for name in NAMES},
    }
    (RESULTS / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "results.md").write_text(report(document, CHARTS))
    failed = [name for name, entry in ran.items() if entry["error"]]
    print(f"\nwrote {(RESULTS / 'results.md').relative_to(ROOT)}, results.json and charts/")
    for name, entry in ran.items():
        print(f"  {name:<12} {entry['run']['seconds']:>7.1f} s  {status(entry)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
