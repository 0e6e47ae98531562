"""How fast does the AMS writeback inbox ingest, next to the physical limit of the same database?

On a fresh temporary SQLite file (or ``--database-url``), with the AMS served over real HTTP by gunicorn
(``simulator.server``, as ``sandbox serve ams`` runs it: a subprocess on a free 127.0.0.1 port whose
``SANDBOX_*`` environment points at a temporary data folder) and every request signed:

- ``http single`` / ``http bulk 100`` / ``http bulk 500``: records/s through ``POST /t/{t}/writeback/records``
  (signature check, journal, fault check, validation, dedupe by id and natural key, insert);
- ``bare insert``: the same rows inserted straight into ``ams_writeback_records`` (SQLAlchemy Core
  executemany, chunks of 500) in one transaction — the database's own limit; ``bare insert 500/tx``: the
  same, committing every 500 rows, as a bulk delivery of 500 must before it answers;
- ``nightly batch N``: N passed courses held by a nightly batch rule, then one clock advance past the window:
  the time for bundling, delivering (bulk 500) and storing all N. The completions are created through
  the LMS service layer (``enroll`` + ``complete``, in one transaction per 1,000) rather than the HTTP
  API, which would take minutes for 100,000; their time is reported separately.

Each ingest measure runs ``--repeat`` times (fresh records every time) and the median is reported,
with every run kept in the JSON: the machine is shared, single runs are noisy.

Usage::

    .venv/bin/python benchmarks/writeback.py [--records 20000] [--repeat 5] [--nightly 10000,100000]
        [--database-url …]

Prints a table and writes ``benchmarks/results/writeback.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

import simulator.jobs  # noqa: F401 - registers job kinds and outbox delivery
from simulator.ams.models import Member
from simulator.ams.writeback.models import WritebackRecord
from simulator.config import ENV_PREFIX, SandboxConfig, load_config
from simulator.console.service import create_seeded_tenant
from simulator.core.clock import advance_clock, wall_now
from simulator.core.db import Database
from simulator.core.models import Tenant
from simulator.core.outbox import endpoint_by_name
from simulator.core.webhooks import sign_headers
from simulator.lms.learning import service as learning

RESULTS = Path(__file__).resolve().parent / "results" / "writeback.json"
NIGHTLY_RULE = {
    "name": "nightly",
    "trigger": "credits.awarded",
    "value_format": "ce_credit",
    "mode": "batch",
    "schedule": {"every": "nightly", "at": "02:00"},
}
COURSES = ["ETH-101", "CLE-204", "CPE-110", "CPE-215", "CME-120", "CME-230", "CEU-100", "CEU-150"]
COMPLETIONS_PER_TRANSACTION = 1_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_ams(config: SandboxConfig) -> Iterator[subprocess.Popen[bytes]]:
    """``sandbox serve ams`` (gunicorn, one worker process) in a subprocess, stopped on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(
        {
            ENV_PREFIX + "DATA_DIR": str(config.data_dir),
            ENV_PREFIX + "DATABASE_URL": config.resolved_database_url,
            ENV_PREFIX + "ADMIN_KEY": config.effective_admin_key(),
            ENV_PREFIX + "BIND": "127.0.0.1",
            ENV_PREFIX + "AMS_PORT": str(config.ams_port),
            ENV_PREFIX + "LOG_LEVEL": "WARNING",
        }
    )
    log_file = (config.data_dir / "ams.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "ams"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the AMS exited at start-up; see {config.data_dir / 'ams.log'}")
            try:
                if httpx.get(f"{config.ams_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the AMS did not answer within 60 s")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()


def envelopes(members: list[str], count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}_{n}",
            "rule": "ce-credits",
            "trigger": "credits.awarded",
            "destination": "ce_transcript",
            "format": "ce_credit",
            "member_id": members[n % len(members)],
            "occurred_at": "2026-03-01T15:00:00+00:00",
            "record": {
                "member_id": members[n % len(members)],
                "activity_code": f"{prefix}-{n}",
                "activity_title": "x",
                "credit_type": "CLE",
                "credits": 1.5,
                "completion_date": "2026-03-01",
            },
        }
        for n in range(count)
    ]


def ingest_rate(url: str, secret: str, records: list[dict[str, Any]], bulk: int | None) -> float:
    """Records/s POSTed (and stored) through the inbox; bodies are signed ahead of the clock."""
    if bulk is None:
        bodies = [(envelope["id"], json.dumps(envelope).encode()) for envelope in records]
    else:
        bodies = [
            (f"b_{records[start]['id']}", json.dumps({"records": records[start : start + bulk]}).encode())
            for start in range(0, len(records), bulk)
        ]
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        for message_id, body in bodies:
            response = client.post(url, content=body, headers=sign_headers(secret, message_id, body))
            if bulk is None:
                assert response.status_code == 201, response.text
            else:
                assert response.status_code == 200, response.text[:300]
                assert response.json()["accepted"] == min(bulk, len(records)), response.text[:300]
        return len(records) / (time.perf_counter() - started)


def bare_insert_rate(
    db: Database, tenant_id: str, records: list[dict[str, Any]], per_transaction: int | None
) -> float:
    """Records/s of a plain Core executemany of the rows, in chunks of 500: in one transaction, or
    committing every ``per_transaction`` rows (as the inbox commits each delivery before answering)."""
    now = wall_now()
    rows = [
        {
            "tenant_id": tenant_id,
            "record_id": e["id"],
            "destination": "ce_transcript",
            "member_id": e["member_id"],
            "activity_code": e["record"]["activity_code"],
            "activity_title": "x",
            "completed_on": dt.date(2026, 3, 1),
            "credit_type": "CLE",
            "credits": 1.5,
            "trigger": "credits.awarded",
            "format": "ce_credit",
            "received_at": now,
        }
        for e in records
    ]
    step = per_transaction or len(rows)
    started = time.perf_counter()
    for first in range(0, len(rows), step):
        with db.session() as session:
            for start in range(first, min(first + step, len(rows)), 500):
                session.execute(insert(WritebackRecord), rows[start : min(start + 500, first + step)])
    return len(rows) / (time.perf_counter() - started)


def create_completions(db: Database, config: SandboxConfig, tenant_id: str, count: int) -> None:
    """``count`` passed courses, through the LMS service layer (enrol + complete with a score of 90)."""
    with db.read() as session:
        members = list(
            session.scalars(
                select(Member.member_id).where(Member.tenant_id == tenant_id, Member.record_type == "member")
            )
        )
    pairs = [(m, c) for m in members for c in COURSES][:count]
    assert len(pairs) == count, f"only {len(pairs)} completions possible"
    for start in range(0, count, COMPLETIONS_PER_TRANSACTION):
        with db.session() as session:
            tenant = session.get(Tenant, tenant_id)
            for member, course in pairs[start : start + COMPLETIONS_PER_TRANSACTION]:
                enrollment, _ = learning.enroll(session, tenant, member, course)
                learning.complete(session, tenant, enrollment["id"], 90, config.lms_url)


def nightly_batch(db: Database, config: SandboxConfig, count: int) -> dict[str, float]:
    tenant_id = f"night{count}"
    create_seeded_tenant(
        db,
        config,
        tenant_id,
        seed=5,
        members=count * 3 // 16 + 50,
        settings={"writeback": {"rules": [NIGHTLY_RULE], "batch_max_size": 500}},
    )
    started = time.perf_counter()
    create_completions(db, config, tenant_id, count)
    completing = time.perf_counter() - started
    started = time.perf_counter()
    advance_clock(db, tenant_id, dt.timedelta(days=1))
    delivering = time.perf_counter() - started
    with db.read() as session:
        stored = session.scalar(
            select(func.count()).select_from(WritebackRecord).where(WritebackRecord.tenant_id == tenant_id)
        )
    assert stored == count, f"{stored} of {count} stored"
    return {
        "completions_seconds": round(completing, 2),
        "advance_and_deliver_seconds": round(delivering, 2),
        "records_per_second": round(count / delivering),
    }


def measure_ingest(db: Database, config: SandboxConfig, records: int, repeat: int) -> list[dict[str, Any]]:
    create_seeded_tenant(db, config, "bench", seed=1, members=500)
    create_seeded_tenant(db, config, "bare", seed=1, members=0)
    with db.read() as session:
        members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == "bench")))
        secret = endpoint_by_name(session, "bench", "ams-writeback").secret
    url = f"{config.ams_url}/t/bench/writeback/records"
    singles = min(2_000, records)
    measures = (
        ("http single", None, singles),
        ("http bulk 100", 100, records),
        ("http bulk 500", 500, records),
        ("bare insert", 0, records),
        ("bare insert 500/tx", 500, records),
    )
    runs: dict[str, list[float]] = {name: [] for name, _, _ in measures}
    for run in range(repeat):
        for name, bulk, count in measures:  # interleaved, so noise hits every measure alike
            batch = envelopes(members, count, f"{name.replace(' ', '')}r{run}")
            if name.startswith("bare"):
                runs[name].append(bare_insert_rate(db, "bare", batch, bulk or None))
            else:
                runs[name].append(ingest_rate(url, secret, batch, bulk))
    return [
        {
            "measure": name,
            "records": count,
            "records_per_second": round(statistics.median(runs[name])),
            "runs": [round(rate) for rate in runs[name]],
        }
        for name, _, count in measures
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nightly", default="10000")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    config = load_config(
        env={},
        overrides={
            "data_dir": str(workdir),
            "admin_key": "bench",
            "ams_port": free_port(),
            "database_url": args.database_url or f"sqlite:///{workdir / 'b.db'}",
        },
    )
    db = Database(config.resolved_database_url)
    db.upgrade()
    with served_ams(config):
        rows = measure_ingest(db, config, args.records, args.repeat)
        nightly = {size: nightly_batch(db, config, int(size)) for size in args.nightly.split(",") if size}
    bare = next(row["records_per_second"] for row in rows if row["measure"] == "bare insert")
    print(f"{'measure (median)':<18}{'records':>9}{'records/s':>11}{'of bare':>9}  runs")
    for row in rows:
        share = row["records_per_second"] / bare
        rate = row["records_per_second"]
        print(f"{row['measure']:<18}{row['records']:>9}{rate:>11}{share:>9.0%}  {row['runs']}")
    for size, timing in nightly.items():
        print(f"nightly batch {size}: {timing}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "backend": db.backend,
                "server": "gunicorn (sandbox serve ams, 1 worker process)",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "repeat": args.repeat,
                "ingest": rows,
                "nightly": nightly,
            },
            indent=2,
        )
    )
    db.dispose()


if __name__ == "__main__":
    main()
