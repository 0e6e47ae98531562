"""Load tests with locust, side by side with the same paths driven without locust, in one run.

Where does ``writeback-ingest`` saturate, and is the sandbox or the load generator the limit? On a
temporary ``sandbox up`` (SQLite, and PostgreSQL when ``--postgres-url`` or ``SANDBOX_TEST_POSTGRES_URL``
names one), with locust on the same two cores as the sandbox:

- ``baseline``: ``benchmarks/writeback.py``'s HTTP bulk-100 path (one client posting signed bulks of 100
  records back to back, each checked), against the same sandbox, just before the locust runs;
- ``writeback-ingest`` with bulks of 100 only (``-o bulk=100 -o singles=0 -o invalid=0 -o resend=0``) at
  each user count of ``--users``: records/s stored (from the reconciliation), requests/s, p50/p95/p99,
  lost and duplicated, the sandbox's CPU per request; then once more at 4 users with 20 % of inbox
  requests answered 503 (``Retry-After: 0``): still nothing lost or duplicated;
- ``sso-storm`` (SAML and OIDC) at ``--sso-users`` users against ``sandbox up --worker-class gevent``
  (one gevent worker per app, the shape ``benchmarks/sso.py`` serves), beside ``benchmarks/sso.py`` run
  just before it for the baseline sign-ins/s (one run per protocol).

Targets (as ratios measured in this run): the best ``writeback-ingest`` records/s on SQLite is at least
half the baseline, with p95 under 250 ms at that point; nothing lost or duplicated in any run, faults
included; ``sso-storm`` reaches at least 60 % of ``benchmarks/sso.py``'s sign-ins/s for each protocol.

Usage::

    .venv/bin/python benchmarks/loadtest.py [--quick] [--users 1,2,4,8,16] [--seconds 15]
        [--sso-users 16] [--postgres-url URL]

Prints a table and writes ``benchmarks/results/loadtest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from simulator.scenario.client import SandboxClient
from simulator.scenario.target import temporary_sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from writeback import envelopes, http_bodies, post_all  # the baseline is writeback.py's own path

RESULTS = Path(__file__).resolve().parent / "results" / "loadtest.json"
SSO_SCRIPT = Path(__file__).resolve().parent / "sso.py"
BULK_ONLY = ["-o", "bulk=100", "-o", "singles=0", "-o", "invalid=0", "-o", "resend=0"]
OUTAGE = {"app": "ams", "path": "/writeback/records", "status": 503, "retry_after": 0, "probability": 0.2}
BASELINE_RECORDS = 20_000


def baseline_bulk100(client: SandboxClient, records: int) -> float:
    """Records/s of writeback.py's HTTP bulk-100 path (one client, back to back) at this sandbox."""
    tenant = client.create_tenant(f"bench-base-{secrets.token_hex(4)}", seed=5, members=200)
    members = [member["member_id"] for member in tenant.members(limit=500)]
    secret = tenant.add_inbox_secret()
    bodies = http_bodies(envelopes(members, records, f"base{secrets.token_hex(4)}"), 100)
    started = time.perf_counter()
    post_all(f"{tenant.ams_base}/writeback/records", secret, bodies, 100)
    return records / (time.perf_counter() - started)


def loadtest(client: SandboxClient, profile: str, users: int, seconds: float, *extra: str) -> dict[str, Any]:
    """One ``sandbox loadtest`` run against ``client``'s sandbox; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="bench-loadtest-") as folder:
        report = Path(folder) / "report.json"
        command = [
            sys.executable, "-m", "simulator.cli", "loadtest", profile,
            "--users", str(users), "--spawn-rate", str(max(users, 1)), "--run-time", f"{seconds}s",
            f"--console-url={client.console_url}", f"--ams-url={client.ams_url}",
            f"--lms-url={client.lms_url}",
            f"--admin-key={client.key}", "--json", str(report), *extra,
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if not report.exists():
            raise RuntimeError(
                f"sandbox loadtest {profile} failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
            )
        return json.loads(report.read_text())


def _endpoint(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(e for e in report["locust"]["endpoints"] if e["name"].startswith(prefix))


def _rows(report: dict[str, Any], title: str) -> dict[str, Any]:
    section = next(s for s in report["reconciliation"] if s["title"] == title)
    return {row["measure"]: row["value"] for row in section["rows"]} | {"details": section["details"]}


def ingest_run(
    client: SandboxClient, database: str, users: int, seconds: float, fault: bool
) -> dict[str, Any]:
    extra = [*BULK_ONLY, f"--fault={json.dumps(OUTAGE)}"] if fault else BULK_ONLY
    report = loadtest(client, "writeback-ingest", users, seconds, *extra)
    bulk = _endpoint(report, "POST /writeback/records (bulk 100)")
    rows = _rows(report, "writeback")
    run = {
        "database": database,
        "users": users,
        "fault": "503 20%" if fault else None,
        "records_per_second": round(rows["details"]["records_per_second"], 1),
        "requests_per_second": round(report["locust"]["total"]["requests_per_second"], 1),
        "p50_ms": bulk["p50_ms"],
        "p95_ms": bulk["p95_ms"],
        "p99_ms": bulk["p99_ms"],
        "error_rate": round(report["error_rate"], 4),
        "sent": rows["sent"],
        "stored": rows["stored"],
        "lost": rows["lost"],
        "duplicated": rows["duplicated"],
        "sandbox_ms_per_request": report["cpu"].get("sandbox_ms_per_request"),
        "load_generator_cores": round(report["cpu"]["load_generator_cores"], 2),
        "passed": report["verdict"]["passed"],
    }
    print(
        f"  writeback-ingest {database:<10} {users:>3} users{' (503 20 %)' if fault else '':<11} "
        f"{run['records_per_second']:>8.0f} records/s  "
        f"p50 {run['p50_ms']} p95 {run['p95_ms']} p99 {run['p99_ms']} ms  "
        f"lost {run['lost']} duplicated {run['duplicated']}"
    )
    return run


def sso_baseline(seconds: float) -> dict[str, float]:
    """``benchmarks/sso.py``'s sign-ins/s per protocol, one run each (it serves its own AMS and LMS)."""
    with tempfile.TemporaryDirectory(prefix="bench-sso-") as folder:
        results = Path(folder) / "sso.json"
        command = [
            sys.executable,
            str(SSO_SCRIPT),
            "--seconds",
            str(seconds),
            "--runs",
            "1",
            "--results",
            str(results),
        ]
        subprocess.run(command, check=True, capture_output=True, text=True)
        measured = json.loads(results.read_text())
    return {
        protocol: measured[f"{protocol}_logins_http"]["per_second_median"] for protocol in ("saml", "oidc")
    }


def sso_run(client: SandboxClient, protocol: str, users: int, seconds: float) -> dict[str, Any]:
    report = loadtest(client, "sso-storm", users, seconds, "-o", f"protocol={protocol}")
    rows = _rows(report, "sso")
    run = {
        "protocol": protocol,
        "users": users,
        "sign_ins_per_second": round(rows["details"]["sign_ins_per_second"], 1),
        "wrong_identity": rows["wrong identity"],
        "p50_ms": report["locust"]["total"]["p50_ms"],
        "p95_ms": report["locust"]["total"]["p95_ms"],
        "p99_ms": report["locust"]["total"]["p99_ms"],
        "sandbox_ms_per_request": report["cpu"].get("sandbox_ms_per_request"),
        "load_generator_cores": round(report["cpu"]["load_generator_cores"], 2),
        "passed": report["verdict"]["passed"],
    }
    print(
        f"  sso-storm {protocol:<5} {users:>3} users {run['sign_ins_per_second']:>8.1f} sign-ins/s  "
        f"p95 {run['p95_ms']} ms"
    )
    return run


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    ingest = results["writeback_ingest"]
    clean = [r for r in ingest["runs"] if r["database"] == "sqlite" and r["fault"] is None]
    best = max(clean, key=lambda r: r["records_per_second"])
    ratio = best["records_per_second"] / ingest["baseline_http_bulk100_records_per_second"]
    found = [
        {
            "name": f"writeback-ingest bulk 100 vs HTTP bulk 100 (SQLite, best at {best['users']} users)",
            "target": "≥ 0.5×",
            "measured": round(ratio, 2),
            "met": ratio >= 0.5,
        },
        {
            "name": "writeback-ingest p95 at that point",
            "target": "< 250 ms",
            "measured": best["p95_ms"],
            "met": best["p95_ms"] < 250,
        },
        {
            "name": "lost or duplicated in any writeback-ingest run (faults included)",
            "target": "0",
            "measured": sum(r["lost"] + r["duplicated"] for r in ingest["runs"]),
            "met": all(r["lost"] == r["duplicated"] == 0 for r in ingest["runs"]),
        },
    ]
    sso = results.get("sso_storm")
    for run in (sso or {}).get("runs", []):
        baseline = sso["baseline_sign_ins_per_second"][run["protocol"]]
        share = run["sign_ins_per_second"] / baseline if baseline else 0.0
        found.append(
            {
                "name": f"sso-storm {run['protocol']} vs benchmarks/sso.py",
                "target": "≥ 0.6×",
                "measured": round(share, 2),
                "met": share >= 0.6,
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Tiny runs, to try the benchmark out.")
    parser.add_argument("--users", default="1,2,4,8,16", help="User counts of the writeback-ingest sweep.")
    parser.add_argument("--seconds", type=float, default=15.0, help="Seconds per locust run.")
    parser.add_argument("--sso-users", type=int, default=16, help="Users of the sso-storm runs.")
    parser.add_argument("--postgres-url", default=os.environ.get("SANDBOX_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    users = [int(n) for n in ("1,4" if args.quick else args.users).split(",")]
    seconds = 3.0 if args.quick else args.seconds
    baseline_records = 2_000 if args.quick else BASELINE_RECORDS
    databases: dict[str, dict[str, str]] = {"sqlite": {}}
    if args.postgres_url:
        databases["postgresql"] = {"database_url": args.postgres_url}
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "setup": {
            "seconds_per_run": seconds,
            "users": users,
            "sso_users": args.sso_users,
            "quick": args.quick,
        },
        "writeback_ingest": {"baselines": {}, "runs": []},
    }
    ingest = results["writeback_ingest"]
    for database, settings in databases.items():
        print(f"writeback-ingest on {database}")
        with temporary_sandbox(settings=settings) as client:
            baseline = round(
                statistics.median(baseline_bulk100(client, baseline_records) for _ in range(3)), 1
            )
            ingest["baselines"][database] = baseline
            print(f"  baseline (writeback.py's HTTP bulk 100, no locust) {baseline:>8.0f} records/s")
            for count in users:
                ingest["runs"].append(ingest_run(client, database, count, seconds, fault=False))
            ingest["runs"].append(ingest_run(client, database, 4, seconds, fault=True))
    ingest["baseline_http_bulk100_records_per_second"] = ingest["baselines"]["sqlite"]
    print("sso-storm")
    baseline_sso = sso_baseline(seconds)
    print(f"  baseline (benchmarks/sso.py): SAML {baseline_sso['saml']}/s, OIDC {baseline_sso['oidc']}/s")
    runs = []
    with temporary_sandbox(up_options=["--worker-class=gevent"]) as client:
        for protocol in ("saml", "oidc"):
            runs.append(sso_run(client, protocol, 4 if args.quick else args.sso_users, seconds))
    results["sso_storm"] = {"baseline_sign_ins_per_second": baseline_sso, "runs": runs}
    results["targets"] = targets(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'target':70} {'wanted':>8} {'measured':>9}  met")
    for target in results["targets"]:
        print(
            f"{target['name']:70} {target['target']:>8} {target['measured']!s:>9}  "
            f"{'yes' if target['met'] else 'NO'}"
        )


if __name__ == "__main__":
    main()
