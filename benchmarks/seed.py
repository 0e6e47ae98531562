"""How fast is deterministic seeding, and how much of it is generation rather than insertion?

For each size, on a fresh database (a temporary SQLite file, and PostgreSQL when ``--database-url`` is
given), it measures:

- ``seed``: the whole of :func:`simulator.seed.seed_tenant` (plan, organisations, members), committed;
- ``generate``: building the same member rows in memory only;
- ``insert``: the bare bulk insert of those pre-generated rows into a second tenant, committed.

Usage::

    .venv/bin/python benchmarks/seed.py [--sizes 1000,10000,100000] [--database-url postgresql+psycopg://…]

Results are printed as a table and written to ``benchmarks/results/seed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from simulator.ams.models import Member, Organisation
from simulator.config import load_config
from simulator.core.db import Database
from simulator.core.tenancy import create_tenant
from simulator.seed import bulk_insert, member_rows, organisation_rows, plan_seed, seed_tenant

RESULTS = Path(__file__).resolve().parent / "results" / "seed.json"
SEED = 42


def _timed(func: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = func()
    return result, time.perf_counter() - started


def measure(db: Database, size: int) -> dict[str, Any]:
    """Seed ``size`` members, then re-insert the same rows bare, on ``db`` (already migrated)."""
    config = load_config(env={}, overrides={"data_dir": tempfile.gettempdir(), "admin_key": "bench"})
    with db.session() as session:
        create_tenant(session, "seeded")
        create_tenant(session, "bare")

    def seed() -> Any:
        with db.session() as session:
            return seed_tenant(session, "seeded", seed=SEED, members=size, config=config)

    summary, seed_seconds = _timed(seed)

    with db.session() as session:
        plan = plan_seed(session, "bare", seed=SEED, members=size, config=config)
        organisations = organisation_rows(plan)
        bulk_insert(session, Organisation.__table__, organisations)
        owned = select(Organisation.org_id, Organisation.pk).where(Organisation.tenant_id == "bare")
        pks = dict(session.execute(owned).all())
    organisation_pks = [pks[row["org_id"]] for row in organisations]
    rows, generate_seconds = _timed(lambda: list(member_rows(plan, organisation_pks)))

    def insert() -> int:
        with db.session() as session:
            return bulk_insert(session, Member.__table__, rows)

    inserted, insert_seconds = _timed(insert)
    total = summary.members + summary.personas
    assert inserted == total
    return {
        "backend": db.backend,
        "members": total,
        "seed_seconds": round(seed_seconds, 4),
        "generate_seconds": round(generate_seconds, 4),
        "insert_seconds": round(insert_seconds, 4),
        "seed_members_per_second": round(total / seed_seconds),
        "insert_members_per_second": round(total / insert_seconds),
    }


def _sqlite_run(size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.upgrade()
        try:
            return measure(db, size)
        finally:
            db.dispose()


def _postgres_run(url: str, size: int) -> dict[str, Any]:
    """Runs in a fresh schema of the given database, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if make_url(url).query else "?"
    db = Database(f"{url}{separator}options=-csearch_path%3D{schema}")
    try:
        db.upgrade()
        return measure(db, size)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


COLUMNS = (  # title, result key, alignment and width, number format
    ("backend", "backend", "<11", ""),
    ("members", "members", ">9", ""),
    ("seed s", "seed_seconds", ">9", ".3f"),
    ("generate s", "generate_seconds", ">12", ".3f"),
    ("insert s", "insert_seconds", ">10", ".3f"),
    ("seed members/s", "seed_members_per_second", ">16", ""),
    ("insert members/s", "insert_members_per_second", ">18", ""),
)


def table(results: list[dict[str, Any]]) -> str:
    """The results as a plain-text table."""
    header = "".join(f"{title:{width}}" for title, _, width, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    lines += ["".join(f"{row[key]:{width}{number}}" for _, key, width, number in COLUMNS) for row in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="Comma-separated member counts.")
    parser.add_argument("--database-url", help="Also measure on this PostgreSQL database.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    results = []
    for size in sizes:
        results.append(_sqlite_run(size))
        if args.database_url:
            results.append(_postgres_run(args.database_url, size))
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {"python": platform.python_version(), "machine": platform.machine(), "results": results}
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nWritten to {RESULTS}")


if __name__ == "__main__":
    main()
