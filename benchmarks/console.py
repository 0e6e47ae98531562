"""How long does each console page take, beside the control-API call that returns the same data?

Against a temporary ``sandbox up`` (gunicorn apps and a worker on free 127.0.0.1 ports; SQLite), a
tenant with ``--members`` generated members and some real traffic (checkouts, a completion written
back, a fault that fired, a few hundred journal entries), a signed-in browser-like client (httpx with the
console's session cookie) fetches each main page ``--repeat`` times, and the admin key fetches the
control-API document behind it the same number of times, interleaved. Reported: the median of each,
and the page as a multiple of its API call (rendering and the page's extra queries; machine speed
cancels out of the ratio). Baseline of the run: ``GET /healthz`` on the console.

Usage::

    .venv/bin/python benchmarks/console.py [--repeat 30] [--members 200]

Prints a table and writes ``benchmarks/results/console.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from simulator.scenario.client import SandboxClient, TenantClient
from simulator.scenario.target import temporary_sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
CARD = "4242424242424242"


def _traffic(tenant: TenantClient) -> None:
    """Orders, a completion written back, a fired fault and a few hundred journal entries."""
    member = tenant.member_by_email("active.member@demo.test")["member_id"]
    for code in ("ETH-101", "BOOK-ETHICS"):
        tenant.add_to_cart(member, code)
        tenant.checkout(member, {"card_token": tenant.card_token(CARD)})
    deadline = time.monotonic() + 30
    while not tenant.enrollments(member_id=member) and time.monotonic() < deadline:
        time.sleep(0.2)
    enrollment = tenant.enrollments(member_id=member, course_code="ETH-101")[0]
    tenant.complete_enrollment(enrollment["id"], score=90)
    tenant.set_fault({"app": "ams", "path": "/api/ledger", "status": 503, "first_n": 1})
    for _ in range(200):
        tenant.members(limit=5)


def _signed_in(console_url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=console_url, timeout=30, headers={"Accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token, "no CSRF token on the sign-in page"
    response = client.post("/sign-in", data={"key": key, "csrf_token": token.group(1)})
    assert response.status_code == 303, response.status_code
    return client


def _median_ms(client: httpx.Client, path: str, repeat: int, **kwargs: Any) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, **kwargs)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples), samples


def measure(sandbox: SandboxClient, repeat: int, members: int) -> dict[str, Any]:
    tenant = sandbox.create_tenant(f"bench-{secrets.token_hex(3)}", members=members)
    _traffic(tenant)
    t = tenant.tenant_id
    entry_id = tenant.journal(path="/api/members")[-1]["id"]
    pages = {
        "dashboard": (f"/tenants/{t}", f"/api/tenants/{t}/overview"),
        "members": (f"/tenants/{t}/members", None),
        "orders": (f"/tenants/{t}/orders", None),
        "writeback": (f"/tenants/{t}/writeback", f"/api/tenants/{t}/outbox"),
        "journal": (f"/tenants/{t}/journal", f"/api/tenants/{t}/journal?newest=true&limit=100"),
        "journal entry": (f"/tenants/{t}/journal/{entry_id}", f"/api/tenants/{t}/journal/{entry_id}"),
        "faults": (f"/tenants/{t}/faults", f"/api/tenants/{t}/faults"),
        "settings": (f"/tenants/{t}/settings", f"/api/tenants/{t}/settings"),
    }
    browser = _signed_in(sandbox.console_url, sandbox.key)
    api = httpx.Client(
        base_url=sandbox.console_url, timeout=30, headers={"Authorization": f"Bearer {sandbox.key}"}
    )
    baseline, _ = _median_ms(api, "/healthz", repeat)
    rows = {}
    for name, (page_path, api_path) in pages.items():
        page_ms, page_samples = _median_ms(browser, page_path, repeat)
        api_ms = _median_ms(api, api_path, repeat)[0] if api_path else None
        rows[name] = {"page_ms": page_ms, "api_ms": api_ms, "page_samples_ms": page_samples}
    sandbox.delete_tenant(t)
    return {"healthz_ms": baseline, "pages": rows, "repeat": repeat, "members": members}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()
    with temporary_sandbox() as sandbox:
        results = measure(sandbox, args.repeat, args.members)
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    print(f"console /healthz: {results['healthz_ms']:.1f} ms (median of {args.repeat})")
    print(f"{'page':<15}{'page ms':>10}{'API ms':>10}{'page/API':>10}{'page/healthz':>14}")
    for name, row in results["pages"].items():
        api_ms = row["api_ms"]
        ratio = f"{row['page_ms'] / api_ms:.2f}×" if api_ms else "–"
        api_text = f"{api_ms:.1f}" if api_ms else "–"
        over_healthz = row["page_ms"] / results["healthz_ms"]
        print(f"{name:<15}{row['page_ms']:>10.1f}{api_text:>10}{ratio:>10}{over_healthz:>13.1f}×")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
