"""How long `sandbox up` takes to three healthy apps, beside one import of the console app, in one run.

Three measurements, alternated ``--repeat`` times so that all see the same machine:

- ``import``: a fresh interpreter importing ``simulator.console.app`` (the largest part of start-up:
  pysaml2, authlib, the OpenAPI models), until it exits;
- ``up (cold)``: ``sandbox up`` with an empty data folder (it creates the SQLite database, migrates,
  seeds the demo tenant) until the console, the AMS and the LMS all answer ``/healthz``;
- ``up (warm)``: the same with the data folder of the cold run (nothing to create or seed).

``sandbox up`` imports the application once and forks its children from that loaded state
(:mod:`simulator.supervisor`), so its time should be close to one import, not four. The target is at most
1.5× the import. Each run uses free 127.0.0.1 ports and is stopped with SIGINT; medians are reported.

Usage::

    .venv/bin/python benchmarks/startup.py [--repeat 5]

Prints a table and writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from simulator.scenario.target import free_ports

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
APPS = ("console", "ams", "lms")


def clean_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    return env | {f"SANDBOX_{name.upper()}": value for name, value in settings.items()}


def time_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import simulator.console.app"], check=True, env=clean_env())
    return time.perf_counter() - started


def time_up(data_dir: Path) -> float:
    """Seconds from starting `sandbox up` to all three apps answering /healthz."""
    ports = dict(zip(APPS, free_ports(3), strict=True))
    command = [sys.executable, "-m", "simulator.cli", "up", *(f"--{a}-port={p}" for a, p in ports.items())]
    env = clean_env(data_dir=str(data_dir), admin_key="sbx_admin_benchmark-startup-0123456789")
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        pending = [f"http://127.0.0.1:{port}/healthz" for port in ports.values()]
        while pending:
            if process.poll() is not None:
                raise SystemExit(f"`sandbox up` exited with {process.returncode} during start-up")
            try:
                if httpx.get(pending[0], timeout=1.0).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    imports, colds, warms = [], [], []
    time_import()  # the first import fills the bytecode caches; every later one is a "warm" import
    for round_number in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="sandbox-startup-") as folder:
            data_dir = Path(folder) / "data"
            imports.append(time_import())
            colds.append(time_up(data_dir))
            warms.append(time_up(data_dir))
        times = f"import {imports[-1]:.2f} s, up cold {colds[-1]:.2f} s, warm {warms[-1]:.2f} s"
        print(f"round {round_number}: {times}")
    median_import = statistics.median(imports)
    rows = [
        ("import simulator.console.app", median_import),
        ("sandbox up, cold data folder", statistics.median(colds)),
        ("sandbox up, warm data folder", statistics.median(warms)),
    ]
    print()
    print(f"{'':<32}{'median':>9}{'× import':>10}")
    for label, value in rows:
        print(f"{label:<32}{value:>8.2f}s{value / median_import:>9.2f}x")
    results = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "repeat": args.repeat,
        "import_seconds": imports,
        "up_cold_seconds": colds,
        "up_warm_seconds": warms,
        "ratios": {label: value / median_import for label, value in rows},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
