"""How fast does the AMS writeback inbox ingest, next to the physical limit of the same database?

On a fresh temporary SQLite file (or ``--database-url``), with the AMS served over real HTTP (werkzeug,
threaded) and every request signed:

- ``http single`` / ``http bulk 100`` / ``http bulk 500``: records/s through ``POST /t/{t}/writeback/records``
  (signature check, journal, fault check, validation, dedupe by id and natural key, insert);
- ``bare insert``: the same rows inserted straight into ``ams_writeback_records`` (executemany, chunks of
  500), committed — the database's own limit;
- ``nightly batch N``: N passed courses held by a nightly batch rule, then one clock advance past the window:
  the time for bundling, delivering (bulk 500) and storing all N.

Usage::

    .venv/bin/python benchmarks/writeback.py [--records 20000] [--nightly 10000,100000] [--database-url …]

Prints a table and writes ``benchmarks/results/writeback.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select
from werkzeug.serving import make_server

import simulator.jobs  # noqa: F401 - registers job kinds and outbox delivery
from simulator.ams.models import Member
from simulator.ams.writeback.models import WritebackRecord
from simulator.config import load_config
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        if bulk is None:
            for envelope in records:
                body = json.dumps(envelope).encode()
                response = client.post(url, content=body, headers=sign_headers(secret, envelope["id"], body))
                assert response.status_code == 201, response.text
        else:
            for start in range(0, len(records), bulk):
                body = json.dumps({"records": records[start : start + bulk]}).encode()
                response = client.post(url, content=body, headers=sign_headers(secret, f"b{start}", body))
                assert response.status_code == 200 and response.json()["accepted"] == len(
                    records[start : start + bulk]
                ), response.text[:300]
        return len(records) / (time.perf_counter() - started)


def bare_insert_rate(db: Database, tenant_id: str, records: list[dict[str, Any]]) -> float:
    now = wall_now()
    rows = [
        {
            "tenant_id": tenant_id,
            "record_id": e["id"],
            "destination": "ce_transcript",
            "member_id": e["member_id"],
            "activity_code": e["record"]["activity_code"],
            "activity_title": "x",
            "completed_on": __import__("datetime").date(2026, 3, 1),
            "credit_type": "CLE",
            "credits": 1.5,
            "trigger": "credits.awarded",
            "format": "ce_credit",
            "received_at": now,
        }
        for e in records
    ]
    started = time.perf_counter()
    with db.session() as session:
        for start in range(0, len(rows), 500):
            session.execute(insert(WritebackRecord), rows[start : start + 500])
    return len(rows) / (time.perf_counter() - started)


def nightly_batch(db: Database, config: Any, count: int) -> dict[str, float]:
    tenant_id = f"night{count}"
    members_needed = count * 3 // 16 + 50
    create_seeded_tenant(
        db,
        config,
        tenant_id,
        seed=5,
        members=members_needed,
        settings={"writeback": {"rules": [NIGHTLY_RULE], "batch_max_size": 500}},
    )
    with db.read() as session:
        members = list(
            session.scalars(
                select(Member.member_id).where(Member.tenant_id == tenant_id, Member.record_type == "member")
            )
        )
    courses = ["ETH-101", "CLE-204", "CPE-110", "CPE-215", "CME-120", "CME-230", "CEU-100", "CEU-150"]
    pairs = [(m, c) for m in members for c in courses][:count]
    assert len(pairs) == count, f"only {len(pairs)} completions possible"
    started = time.perf_counter()
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        for member, course in pairs:
            enrollment, _ = learning.enroll(session, tenant, member, course)
            learning.complete(session, tenant, enrollment["id"], 90, config.lms_url)
    completing = time.perf_counter() - started
    started = time.perf_counter()
    advance_clock(db, tenant_id, __import__("datetime").timedelta(days=1))
    delivering = time.perf_counter() - started
    with db.read() as session:
        stored = session.scalar(
            select(func.count()).select_from(WritebackRecord).where(WritebackRecord.tenant_id == tenant_id)
        )
    assert stored == count, f"{stored} of {count} stored"
    return {"completions_seconds": round(completing, 2), "advance_and_deliver_seconds": round(delivering, 2)}


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--nightly", default="10000")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    port = free_port()
    config = load_config(
        env={},
        overrides={
            "data_dir": str(workdir),
            "admin_key": "bench",
            "ams_port": port,
            "database_url": args.database_url or f"sqlite:///{workdir / 'b.db'}",
        },
    )
    db = Database(config.resolved_database_url)
    db.upgrade()
    from simulator.ams.app import create_app

    server = make_server("127.0.0.1", port, create_app(config, db), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    create_seeded_tenant(db, config, "bench", seed=1, members=500)
    create_seeded_tenant(db, config, "bare", seed=1, members=0)
    with db.read() as session:
        members = list(session.scalars(select(Member.member_id).where(Member.tenant_id == "bench")))
        secret = endpoint_by_name(session, "bench", "ams-writeback").secret
    url = f"{config.ams_url}/t/bench/writeback/records"
    rows: list[dict[str, Any]] = []
    singles = min(2_000, args.records)
    for name, bulk, count in (
        ("http single", None, singles),
        ("http bulk 100", 100, args.records),
        ("http bulk 500", 500, args.records),
    ):
        rate = ingest_rate(url, secret, envelopes(members, count, name.replace(" ", "")), bulk)
        rows.append({"measure": name, "records": count, "records_per_second": round(rate)})
    rate = bare_insert_rate(db, "bare", envelopes(members, args.records, "bare"))
    rows.append({"measure": "bare insert", "records": args.records, "records_per_second": round(rate)})
    nightly = {}
    for size in (int(s) for s in args.nightly.split(",") if s):
        nightly[str(size)] = nightly_batch(db, config, size)
    server.shutdown()
    print(f"{'measure':<16}{'records':>10}{'records/s':>12}")
    for row in rows:
        print(f"{row['measure']:<16}{row['records']:>10}{row['records_per_second']:>12}")
    for size, timing in nightly.items():
        print(f"nightly batch {size}: {timing}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "backend": db.backend,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "ingest": rows,
                "nightly": nightly,
            },
            indent=2,
        )
    )
    db.dispose()


if __name__ == "__main__":
    main()
