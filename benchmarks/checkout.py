"""How fast does the AMS check out over HTTP, and how soon does a purchase become an LMS enrollment?

On a fresh temporary SQLite file (or ``--database-url``), with the AMS and the LMS served over real HTTP
by gunicorn (``sandbox serve ams|lms``: subprocesses on free 127.0.0.1 ports) and a ``sandbox worker``
delivering the outbox (``purchase_sync: immediate``):

- ``checkouts/s``: complete purchases through the API — add to cart, tokenise the test card at the
  gateway stub, check out with an ``Idempotency-Key`` (three requests each) — sequentially and from
  ``--concurrency`` client threads;
- ``webhook → enrollment``: for ``--samples`` purchases one at a time, the time from the checkout's
  ``201`` until the course shows in the LMS's enrollment API (outbox pick-up by the worker, which polls
  every ``--worker-poll`` seconds, signed delivery, verification, dedupe and enrollment), and the
  delivery attempt alone (the webhook POST until the LMS answered, from the outbox's attempt log).

Usage::

    .venv/bin/python benchmarks/checkout.py [--checkouts 300] [--concurrency 4] [--samples 40]
        [--worker-poll 0.05] [--database-url …]

Prints a table and writes ``benchmarks/results/checkout.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from simulator.ams.models import Member
from simulator.config import ENV_PREFIX, SandboxConfig, load_config
from simulator.console.service import create_seeded_tenant
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.core.outbox_models import DeliveryAttempt, OutboxMessage

RESULTS = Path(__file__).resolve().parent / "results" / "checkout.json"
TENANT = "bench"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
PRODUCTS = ["BOOK-ETHICS", "TICKET-CONF", "DUES-REGULAR"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_env(config: SandboxConfig, worker_poll: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(
        {
            ENV_PREFIX + "DATA_DIR": str(config.data_dir),
            ENV_PREFIX + "DATABASE_URL": config.resolved_database_url,
            ENV_PREFIX + "ADMIN_KEY": config.effective_admin_key(),
            ENV_PREFIX + "BIND": "127.0.0.1",
            ENV_PREFIX + "AMS_PORT": str(config.ams_port),
            ENV_PREFIX + "LMS_PORT": str(config.lms_port),
            ENV_PREFIX + "WORKER_POLL_SECONDS": str(worker_poll),
            ENV_PREFIX + "LOG_LEVEL": "WARNING",
        }
    )
    return env


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path, health_url: str | None) -> Iterator[None]:
    """``sandbox ARGS`` in its own process group, ready (health answers), stopped on the way out."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator.cli", *args],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while health_url is not None:
                if process.poll() is not None:
                    raise RuntimeError(f"'sandbox {' '.join(args)}' exited at start-up; see {log}")
                try:
                    if httpx.get(health_url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"'sandbox {' '.join(args)}' did not answer within 60 s")
                time.sleep(0.1)
            yield
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def purchase(client: httpx.Client, member_id: str, product: str) -> httpx.Response:
    """One whole purchase: cart, token, checkout (three requests)."""
    added = client.post(f"/api/members/{member_id}/cart/items", json={"product_code": product})
    added.raise_for_status()
    token = client.post("/gateway/v1/tokens", json={"card": CARD}).json()["id"]
    response = client.post(
        f"/api/members/{member_id}/cart/checkout",
        json={"payment": {"card_token": token}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    response.raise_for_status()
    return response


def checkouts_per_second(
    base: str, auth: dict[str, str], members: list[str], count: int, threads: int
) -> float:
    def buy(index: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            purchase(client, members[index % len(members)], PRODUCTS[index % len(PRODUCTS)])

    started = time.perf_counter()
    if threads == 1:
        for index in range(count):
            buy(index)
    else:
        # consecutive purchases go to different members, so no two threads share a cart
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(buy, range(count)))
    return count / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def enrollment_latency(
    ams: httpx.Client, lms: httpx.Client, members: list[str], courses: list[str], samples: int
) -> list[float]:
    latencies = []
    for index in range(samples):
        member, course = members[index % len(members)], courses[index % len(courses)]
        purchase(ams, member, course)
        done = time.perf_counter()
        while True:
            found = lms.get("/api/enrollments", params={"member_id": member, "course_code": course}).json()
            if found["enrollments"]:
                latencies.append((time.perf_counter() - done) * 1000)
                break
            if time.perf_counter() - done > 30:
                raise RuntimeError(f"no enrollment of {member} in {course} after 30 s")
            time.sleep(0.005)
    return latencies


def delivery_latencies(db: Database) -> list[float]:
    with db.read() as session:
        rows = session.scalars(
            select(DeliveryAttempt.latency_ms)
            .join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.message_pk)
            .where(OutboxMessage.tenant_id == TENANT, OutboxMessage.topic.like("order.%"))
        )
        return list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--worker-poll", type=float, default=0.05)
    parser.add_argument("--database-url")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as folder, ExitStack() as stack:
        data = Path(folder)
        overrides = {
            "data_dir": str(data),
            "ams_port": free_port(),
            "lms_port": free_port(),
            "admin_key": "bench",
        }
        if options.database_url:
            overrides["database_url"] = options.database_url
        config = load_config(env={}, overrides=overrides)
        db = Database(config.resolved_database_url)
        secrets_at_rest.configure(config, db)
        db.upgrade()
        _, api_key, _ = create_seeded_tenant(db, config, TENANT, seed=1, members=200)
        with db.read() as session:
            members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == TENANT)))
        env = sandbox_env(config, options.worker_poll)
        stack.enter_context(running(["serve", "ams"], env, data / "ams.log", f"{config.ams_url}/healthz"))
        stack.enter_context(running(["serve", "lms"], env, data / "lms.log", f"{config.lms_url}/healthz"))
        auth = {"Authorization": f"Bearer {api_key}"}
        base = f"{config.ams_url}/t/{TENANT}"
        sequential = checkouts_per_second(base, auth, members, options.checkouts // 2, 1)
        concurrent = checkouts_per_second(base, auth, members, options.checkouts, options.concurrency)
        stack.enter_context(running(["worker"], env, data / "worker.log", None))
        courses = ["ETH-101", "CLE-204", "CPE-110", "CME-120", "CEU-100", "CEU-W10"]
        with (
            httpx.Client(base_url=base, headers=auth, timeout=30) as ams,
            httpx.Client(base_url=f"{config.lms_url}/t/{TENANT}", headers=auth, timeout=30) as lms,
        ):
            end_to_end = enrollment_latency(ams, lms, members, courses, options.samples)
        delivery = delivery_latencies(db)
        db.dispose()

    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "database": "sqlite" if not options.database_url else options.database_url.split(":", 1)[0],
        "checkouts_per_second": {
            "sequential": round(sequential, 1),
            f"{options.concurrency}_threads": round(concurrent, 1),
            "requests_per_checkout": 3,
        },
        "webhook_to_enrollment_ms": {
            "samples": len(end_to_end),
            "worker_poll_seconds": options.worker_poll,
            "end_to_end_median": round(statistics.median(end_to_end), 1),
            "end_to_end_p95": round(percentile(end_to_end, 0.95), 1),
            "delivery_median": round(statistics.median(delivery), 1) if delivery else None,
            "delivery_p95": round(percentile(delivery, 0.95), 1) if delivery else None,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rate, latency = results["checkouts_per_second"], results["webhook_to_enrollment_ms"]
    print(
        f"checkouts/s  sequential {rate['sequential']:>7}   {options.concurrency} threads {concurrent:>7.1f}"
    )
    print(
        f"checkout → enrollment  median {latency['end_to_end_median']} ms  p95 {latency['end_to_end_p95']} ms"
        f"  (worker poll {options.worker_poll} s)"
    )
    print(f"webhook delivery alone median {latency['delivery_median']} ms  p95 {latency['delivery_p95']} ms")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
