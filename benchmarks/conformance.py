"""Wall time of the saml-sp suite against the sandbox's own LMS, beside as many plain SAML sign-ins.

One temporary sandbox is started as ``sandbox certify`` starts one when nothing answers
(:func:`simulator.scenario.target.temporary_sandbox`). Each round, alternating so both see the same
machine:

- ``suite``: the whole saml-sp suite from ``conformance/targets/sandbox-lms.yaml``, exactly as
  ``sandbox certify`` runs it (set-up with test members and the SP registration, the honest baseline,
  every check, clean-up), without printing;
- ``sign-ins``: as many plain SP-initiated SAML sign-ins as the suite has checks, each in a fresh
  browser of the same user agent (:class:`simulator.scenario.agent.UserAgent`), through the LMS login,
  the AMS login form and the ACS, judged at the LMS probe ``/me``.

The ratio ``suite / sign-ins`` says what the hostile work costs over signing in: every check signs in
once (up to the response), most post a variant, mint through the control API and ask the probe, and the
hostile-XML checks do a whole honest sign-in afterwards to see that the SP is still healthy. Figures are
medians of ``--repeat`` rounds (the machine is shared and noisy); the slowest checks are listed too.

Usage::

    .venv/bin/python benchmarks/conformance.py [--repeat 3]

Prints a table and writes ``benchmarks/results/conformance.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# This file is called conformance.py, like the package it measures: keep its own folder off the path.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from conformance.harness.runner import run_checks  # noqa: E402
from conformance.harness.target import load_target  # noqa: E402
from conformance.saml_sp import SUITE  # noqa: E402
from simulator.scenario.agent import UserAgent  # noqa: E402
from simulator.scenario.client import SandboxClient  # noqa: E402
from simulator.scenario.target import temporary_sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "conformance" / "targets" / "sandbox-lms.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "conformance.json"
TENANT = "lms-reference"
PASSWORD = "benchmark-password"


def run_suite(client: SandboxClient) -> tuple[float, dict[str, float], bool]:
    """(wall seconds, milliseconds per check, certified?) of one whole run."""
    urls = {"console_url": client.console_url, "ams_url": client.ams_url, "lms_url": client.lms_url}
    started = time.perf_counter()
    loaded = load_target(TARGET, SUITE.target_model, SUITE.name, urls)
    with SUITE.open_world(loaded, client) as world:
        report = run_checks(SUITE, world, SUITE.checks, str(TARGET))
    wall = time.perf_counter() - started
    return wall, {r.check.id: r.duration_ms for r in report.results}, report.ok


def plain_sign_ins(client: SandboxClient, count: int, email: str, member_id: str) -> float:
    """Wall seconds of ``count`` SP-initiated SAML sign-ins, each in a fresh browser."""
    lms = f"{client.lms_url}/t/{TENANT}"
    started = time.perf_counter()
    for _ in range(count):
        with UserAgent("benchmark") as browser:
            landing = browser.journey(f"{lms}/login?return_to=/t/{TENANT}/me", email, PASSWORD)
        if not (
            landing.status == 200
            and isinstance(landing.body, dict)
            and landing.body["member_id"] == member_id
        ):
            raise SystemExit(f"a plain sign-in failed: {landing.status} at {landing.url}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checks = len(SUITE.checks)
    suite_walls: list[float] = []
    sign_in_walls: list[float] = []
    per_check: dict[str, list[float]] = {}
    with temporary_sandbox() as client:
        client.create_tenant(TENANT)
        tenant = client.tenant(TENANT)
        person = tenant.create_member(
            {"email": "bench@example.org", "given_name": "Bench", "family_name": "Mark", "password": PASSWORD}
        )
        plain_sign_ins(client, 2, person["email"], person["member_id"])  # warm both apps' caches
        for round_number in range(1, args.repeat + 1):
            wall, durations, ok = run_suite(client)
            if not ok:
                raise SystemExit("the sandbox LMS was not certified: run `sandbox certify` to see why")
            suite_walls.append(wall)
            for check_id, milliseconds in durations.items():
                per_check.setdefault(check_id, []).append(milliseconds)
            sign_in_walls.append(plain_sign_ins(client, checks, person["email"], person["member_id"]))
            print(
                f"round {round_number}: suite {wall:.2f} s, {checks} plain sign-ins {sign_in_walls[-1]:.2f} s"
            )
    suite = statistics.median(suite_walls)
    sign_ins = statistics.median(sign_in_walls)
    slowest = sorted(((statistics.median(v), k) for k, v in per_check.items()), reverse=True)[:5]
    print()
    print(f"{'':<34}{'median':>10}")
    print(f"{'whole saml-sp suite (' + str(checks) + ' checks)':<34}{suite:>9.2f} s")
    print(f"{'  per check':<34}{suite / checks * 1000:>8.0f} ms")
    print(f"{str(checks) + ' plain SAML sign-ins':<34}{sign_ins:>9.2f} s")
    print(f"{'  per sign-in':<34}{sign_ins / checks * 1000:>8.0f} ms")
    print(f"{'suite / sign-ins':<34}{suite / sign_ins:>9.2f} x")
    print("slowest checks (median ms): " + ", ".join(f"{k} {v:.0f}" for v, k in slowest))
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "repeat": args.repeat,
        "checks": checks,
        "suite_seconds": suite_walls,
        "sign_ins_seconds": sign_in_walls,
        "median_suite_seconds": suite,
        "median_sign_ins_seconds": sign_ins,
        "ratio": suite / sign_ins,
        "median_check_ms": {k: statistics.median(v) for k, v in per_check.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
