"""Does the sandbox's memory stay flat under a long, steady load?

A temporary ``sandbox up`` (SQLite) takes ``exam-day`` — sign-ins (replay caches, sessions), completions
written back by the worker (outbox, inbox), connectors posting records (the journal, idempotency by id)
and purchases (the gateway's idempotency keys) — at a steady rate (``--users`` users, one task each per
``--pace`` seconds) for ``--minutes`` minutes. Every ``--interval`` seconds the resident memory (RSS) of
each process of the sandbox is sampled, with its children (gunicorn's workers). The journal is bounded per
tenant and the caches are bounded by construction, so after warming up every process should stay flat.

Reported per process: RSS at the end of the warm-up (the first fifth of the run), at the end, the growth
between them as a ratio, and the slope over the second half of the run (MB per minute, least squares).
The target: no process grows by more than 10 % after its warm-up. The load test's own verdict (nothing
lost or duplicated over the whole soak) is kept beside it.

Usage::

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--users 8] [--pace 0.5] [--interval 5] [--quick]

Prints a table and writes ``benchmarks/results/soak.json`` (with every sample, for the RSS chart that
``benchmarks/run.py`` draws).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from simulator.scenario.client import SandboxClient
from simulator.scenario.target import temporary_sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
MAX_GROWTH = 1.10


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children, in MB; None when it is gone."""
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        return sum(member.memory_info().rss for member in family) / 2**20
    except psutil.Error:
        return None


def sample_until(client: SandboxClient, stop: threading.Event, interval: float) -> list[dict[str, Any]]:
    processes = {p["name"]: p["pid"] for p in client.processes()}
    started = time.monotonic()
    samples = []
    while not stop.is_set():
        row: dict[str, Any] = {"seconds": round(time.monotonic() - started, 1)}
        for name, pid in processes.items():
            row[name] = rss_mb(pid)
        samples.append(row)
        stop.wait(interval)
    return samples


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    names = [key for key in samples[0] if key != "seconds"]
    warm = max(1, len(samples) // 5)
    summary = {}
    for name in names:
        series = [(row["seconds"], row[name]) for row in samples if row[name] is not None]
        if len(series) <= warm:
            continue
        after_warm_up, end = series[warm - 1][1], series[-1][1]
        summary[name] = {
            "after_warm_up_mb": round(after_warm_up, 1),
            "end_mb": round(end, 1),
            "growth": round(end / after_warm_up, 3),
            "slope_mb_per_minute_second_half": round(slope(series[len(series) // 2 :]), 2),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--pace", type=float, default=0.5, help="Seconds per task per user.")
    parser.add_argument("--interval", type=float, default=5.0, help="Seconds between RSS samples.")
    parser.add_argument("--quick", action="store_true", help="One minute, to try the benchmark out.")
    args = parser.parse_args()
    minutes = 1.0 if args.quick else args.minutes
    seconds = minutes * 60
    with temporary_sandbox() as client, tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
        report_path = Path(folder) / "report.json"
        stop = threading.Event()
        samples: list[dict[str, Any]] = []
        sampler = threading.Thread(target=lambda: samples.extend(sample_until(client, stop, args.interval)))
        sampler.start()
        command = [
            sys.executable, "-m", "simulator.cli", "loadtest", "exam-day",
            "--users", str(args.users), "--spawn-rate", str(args.users), "--run-time", f"{seconds:.0f}s",
            "--pace", str(args.pace), f"--console-url={client.console_url}", f"--ams-url={client.ams_url}",
            f"--lms-url={client.lms_url}", f"--admin-key={client.key}", "--json", str(report_path),
        ]  # fmt: skip
        print(f"soak: exam-day, {args.users} users, one task per {args.pace} s each, {minutes:g} minutes")
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        stop.set()
        sampler.join()
        if not report_path.exists():
            raise SystemExit(f"the load test failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
        report = json.loads(report_path.read_text())
    summary = summarise(samples)
    results = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "setup": {
            "minutes": minutes,
            "users": args.users,
            "pace_seconds": args.pace,
            "interval": args.interval,
        },
        "requests": report["locust"]["total"]["requests"],
        "requests_per_second": round(report["locust"]["total"]["requests_per_second"], 1),
        "verdict": report["verdict"],
        "processes": summary,
        "flat": all(row["growth"] <= MAX_GROWTH for row in summary.values()),
        "samples": samples,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{results['requests']} requests ({results['requests_per_second']}/s); load test passed: "
          f"{report['verdict']['passed']}")  # fmt: skip
    print(f"{'process':12} {'after warm-up':>14} {'end':>8} {'growth':>8} {'MB/min (2nd half)':>18}")
    for name, row in summary.items():
        print(
            f"{name:12} {row['after_warm_up_mb']:>11.1f} MB {row['end_mb']:>5.1f} MB {row['growth']:>7.3f}× "
            f"{row['slope_mb_per_minute_second_half']:>17.2f}"
        )
    print(f"flat (every process ≤ {MAX_GROWTH:.2f}× after warm-up): {'yes' if results['flat'] else 'NO'}")


if __name__ == "__main__":
    main()
