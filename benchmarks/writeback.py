"""How fast does the AMS writeback inbox ingest, next to the physical limit of the same database?

On a fresh temporary SQLite file (or ``--database-url``), with the AMS served over real HTTP by gunicorn
(``simulator.server``, as ``sandbox serve ams`` runs it: a subprocess on a free 127.0.0.1 port whose
``SANDBOX_*`` environment points at a temporary data folder) and every request signed:

- ``http single`` / ``http bulk 100`` / ``http bulk 500``: records/s through ``POST /t/{t}/writeback/records``
  (signature check, journal, fault check, validation, dedupe by id and natural key, insert);
- ``bare insert``: the same rows (same columns and values) inserted straight into ``ams_writeback_records``
  — the same table with the same indexes, in the same database — by a SQLAlchemy Core executemany in
  chunks of 500, in one transaction: the database's own limit; ``bare insert 500/tx``: the same,
  committing every 500 rows, as a bulk delivery of 500 must before it answers. Every measure is shown
  as a share of both;
- ``nightly batch N``: N passed courses held by a nightly batch rule, then one clock advance past the window:
  the time for bundling, delivering (bulk 500) and storing all N. The completions are created through
  the LMS service layer (``enroll`` + ``complete``, in one transaction per 1,000) rather than the HTTP
  API; their time is reported separately.

On SQLite each measure starts from an empty WAL and ends with its own pages checkpointed into the database
file (``PRAGMA wal_checkpoint(TRUNCATE)``, inside the timing): no measure leaves WAL pages for the next
one to copy, however far apart the automatic checkpoints are.

Each ingest measure runs ``--repeat`` times (fresh records every time) and the median is reported,
with every run kept in the JSON: the machine is shared, single runs are noisy.

Usage::

    .venv/bin/python benchmarks/writeback.py [--records 20000] [--repeat 5] [--nightly 10000,100000]
        [--database-url …]

Prints a table and writes ``benchmarks/results/writeback.json``. The temporary data folder
(``wb-bench-*``, with the SQLite file and the AMS's ``ams.log``) is removed at the end, also when the run is
interrupted; a run that fails with an error keeps it and names it, for a look at what went wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
from simulator.core import secrets_at_rest
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
BARE_500 = "bare insert 500/tx"


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


def http_bodies(records: list[dict[str, Any]], bulk: int | None) -> list[tuple[str, bytes]]:
    """(webhook id, body) per request: one envelope each, or ``{"records": [...]}`` of ``bulk``."""
    if bulk is None:
        return [(envelope["id"], json.dumps(envelope).encode()) for envelope in records]
    return [
        (f"b_{records[start]['id']}", json.dumps({"records": records[start : start + bulk]}).encode())
        for start in range(0, len(records), bulk)
    ]


def post_all(url: str, secret: str, bodies: list[tuple[str, bytes]], bulk: int | None) -> None:
    """POST every body, signed at the moment it is sent, and check that every record was accepted."""
    with httpx.Client(timeout=120) as client:
        for message_id, body in bodies:
            response = client.post(url, content=body, headers=sign_headers(secret, message_id, body))
            if bulk is None:
                assert response.status_code == 201, response.text
            else:
                assert response.status_code == 200, response.text[:300]
                answer = response.json()
                assert answer["rejected"] == answer["duplicate"] == 0, response.text[:300]


def bare_rows(tenant_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the inbox stores for ``records`` (same columns, same values), ready for a Core insert."""
    now = wall_now()
    return [
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


def bare_insert(db: Database, rows: list[dict[str, Any]], per_transaction: int | None) -> None:
    """A plain Core executemany of ``rows`` in chunks of 500: in one transaction, or committing every
    ``per_transaction`` rows (as the inbox commits each delivery before it answers)."""
    statement = insert(WritebackRecord.__table__)  # Core, no ORM: nothing but the driver's executemany
    step = per_transaction or len(rows)
    for first in range(0, len(rows), step):
        with db.engine.begin() as connection:
            for start in range(first, min(first + step, len(rows)), 500):
                connection.execute(statement, rows[start : min(start + 500, first + step)])


def checkpoint(db: Database) -> None:
    """Copy the SQLite WAL back into the database file and empty it (nothing to do on PostgreSQL)."""
    if not db.is_sqlite:
        return
    connection = db.engine.raw_connection()
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def timed(db: Database, work: Callable[[], None]) -> float:
    """Seconds ``work`` takes, from an empty WAL to its own rows checkpointed into the database file: no
    measure leaves WAL pages behind for the next one to copy (the WAL checkpoints every ~40 MB)."""
    checkpoint(db)
    started = time.perf_counter()
    work()
    checkpoint(db)
    return time.perf_counter() - started


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
    delivering = timed(db, lambda: advance_clock(db, tenant_id, dt.timedelta(days=1)))
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
        (BARE_500, 500, records),
    )
    runs: dict[str, list[float]] = {name: [] for name, _, _ in measures}
    for run in range(repeat):
        for name, bulk, count in measures:  # interleaved, so noise hits every measure alike
            batch = envelopes(members, count, f"{name.replace(' ', '')}r{run}")
            if name.startswith("bare"):
                rows = bare_rows("bare", batch)
                seconds = timed(db, lambda rows=rows, bulk=bulk: bare_insert(db, rows, bulk or None))
            else:
                bodies = http_bodies(batch, bulk)
                seconds = timed(db, lambda bodies=bodies, bulk=bulk: post_all(url, secret, bodies, bulk))
            runs[name].append(count / seconds)
    return [
        {
            "measure": name,
            "records": count,
            "records_per_second": round(statistics.median(runs[name])),
            "runs": [round(rate) for rate in runs[name]],
        }
        for name, _, count in measures
    ]


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each measure as a share of the two bare inserts (the physical limits) of the same run."""
    rate_of = {row["measure"]: row["records_per_second"] for row in rows}
    for row in rows:
        row["of_bare_one_transaction"] = round(row["records_per_second"] / rate_of["bare insert"], 3)
        row["of_bare_500_per_transaction"] = round(row["records_per_second"] / rate_of[BARE_500], 3)


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ("records", 8), ("records/s", 11), ("÷ bare 1 tx", 13), ("÷ bare 500/tx", 15)
    print(f"{'measure (median)':<20}" + "".join(f"{name:>{width}}" for name, width in columns) + "  runs")
    for row in rows:
        one, per_500 = row["of_bare_one_transaction"], row["of_bare_500_per_transaction"]
        rate = row["records_per_second"]
        print(f"{row['measure']:<20}{row['records']:>8}{rate:>11}{one:>13.0%}{per_500:>15.0%}  {row['runs']}")
    bulk = next(row for row in rows if row["measure"] == "http bulk 500")
    one, per_500 = bulk["of_bare_one_transaction"], bulk["of_bare_500_per_transaction"]
    print(
        f"http bulk 500: {bulk['records_per_second']} records/s = {one:.0%} of the bare insert in one "
        f"transaction, {per_500:.0%} of the bare insert committing every 500 rows"
    )


def run(args: argparse.Namespace, workdir: Path) -> None:
    """The whole benchmark, its data folder (and SQLite database) in ``workdir``: prints, writes the JSON."""
    load_at_start = [round(x, 2) for x in os.getloadavg()]
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
    secrets_at_rest.configure(config, db)
    db.upgrade()
    with served_ams(config):
        rows = measure_ingest(db, config, args.records, args.repeat)
        nightly = {size: nightly_batch(db, config, int(size)) for size in args.nightly.split(",") if size}
    add_ratios(rows)
    print_table(rows)
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
                "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
                "ingest": rows,
                "nightly": nightly,
            },
            indent=2,
        )
    )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nightly", default="10000")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    kept = False
    try:
        run(args, workdir)
    except Exception:
        kept = True  # for its ams.log, which the error may point to, and its database
        print(f"failed: its data folder is kept for a look: {workdir}", file=sys.stderr)
        raise
    finally:
        if not kept:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
