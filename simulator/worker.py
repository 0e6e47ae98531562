"""The background worker: runs due jobs (and, as later work registers them, outbox deliveries).

Several workers may run at once: every piece of work is claimed atomically before it runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import simulator.jobs  # noqa: F401 - registers every job kind
from simulator.config import SandboxConfig
from simulator.core import secrets_at_rest, tls
from simulator.core.db import Database
from simulator.core.jobs import run_all_due_jobs

log = logging.getLogger(__name__)


def run_worker_pass(db: Database) -> int:
    """One pass over every kind of due work; returns how many items ran."""
    return run_all_due_jobs(db)


def run_worker(config: SandboxConfig, once: bool = False, stop: threading.Event | None = None) -> None:
    """Poll for due work until SIGINT/SIGTERM (or ``stop``); ``once`` runs a single pass."""
    tls.configure(config)  # deliveries to the sandbox's own https:// apps verify against its CA
    db = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)
    stop = stop or threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping (signal %s)", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _request_stop)
        signal.signal(signal.SIGINT, _request_stop)
    log.info("worker started on %s", db.backend)
    try:
        while not stop.is_set():
            try:
                ran = run_worker_pass(db)
            except Exception:
                log.exception("worker pass failed")
                ran = 0
            if once:
                break
            if ran == 0:
                stop.wait(config.worker_poll_seconds)
    finally:
        db.dispose()
        log.info("worker stopped")
