"""What every locustfile of the sandbox shares: the run plan, the ledger, the stop guard and the statistics.

Importing this module registers locust's ``--sandbox-plan`` option (read from ``SANDBOX_LOADTEST_PLAN``)
and three event listeners:

- **the ledger.** Users note what they sent and what the sandbox answered (``ledger.note("records", id,
  outcome=…)``): a record is noted *before* it is sent (``unconfirmed``), so one cut off by the end of the
  run stays visible as such. Each worker sends its ledger to the master when it stops (a custom message,
  sent before locust's own ``client_stopped``, so the master has every ledger once all workers stopped);
  then the worker quits.
- **the stop guard** (on the master, or the only process): the run stops when ``run_time_seconds`` have
  passed since the test started, or when ``max_requests`` requests were made, whichever comes first. It
  stops the users (letting each finish its task within locust's ``--stop-timeout``), then writes the
  statistics and the merged ledger to the plan's ``result_path`` and quits.
- **the statistics**: per endpoint and in total, requests, failures, requests/s and the p50/p95/p99
  response times, plus requests per second over the run.

Users address every request by its absolute URL (``plan.ams_base``, ``plan.lms_base``): a profile talks to
more than one app, and locust's ``--host`` is only the AMS.

Example (a locustfile)::

    from loadtests.locustfiles.support import SandboxUser, ledger, plan_of

    class Connector(SandboxUser):
        @task
        def post(self) -> None:
            plan = plan_of(self.environment)
            ledger.note("records", record_id, outcome="unconfirmed")
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import gevent
from locust import constant_pacing, events
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.plan import LEDGER_MESSAGE, PLAN_ENV, Plan
from simulator.core.tls import client_verify

log = logging.getLogger(__name__)

GUARD_INTERVAL_SECONDS = 0.25
WORKER_EXIT_DELAY_SECONDS = 0.5
PERCENTILES = (0.5, 0.95, 0.99)
RETRY_STATUSES = frozenset({0, 408, 425, 429, 500, 502, 503, 504})
"""Answers a connector retries (0 is a connection that failed: refused, reset, timed out)."""


class SandboxUser(FastHttpUser):
    """A locust user whose https:// calls verify the server's certificate, as a real connector would.

    locust's ``FastHttpUser`` skips verification by default; this one verifies with the sandbox's one
    :func:`simulator.core.tls.client_verify` context (the default trust store and ``SANDBOX_CA_BUNDLE``,
    which ``sandbox loadtest`` sets to the CA of a ``--tls`` sandbox). Under locust's gevent patching the
    context is gevent's, so it serves geventhttpclient's sockets.
    """

    abstract = True
    insecure = False
    ssl_context_factory = staticmethod(client_verify)


class Ledger:
    """What this process's users sent and what came back, by kind (``records``, ``sign_ins``…) and key."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def note(self, kind: str, key: str, **facts: Any) -> None:
        """Record (or update) the facts about ``key``."""
        self.entries[kind].setdefault(key, {}).update(facts)

    def merge(self, entries: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        for kind, keyed in entries.items():
            for key, facts in keyed.items():
                self.note(kind, key, **facts)

    def take(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every entry, emptying the ledger (a worker hands it over once per run)."""
        taken = dict(self.entries)
        self.entries = defaultdict(dict)
        return taken


ledger = Ledger()
_plans: dict[str, Plan] = {}
_started: dict[str, float] = {}  # when the test started, and with how many workers


@events.init_command_line_parser.add_listener
def _add_plan_option(parser: Any) -> None:
    parser.add_argument(
        "--sandbox-plan",
        env_var=PLAN_ENV,
        default="",
        include_in_web_ui=False,
        help="The sandbox run plan (JSON); `sandbox loadtest` sets it.",
    )


def plan_of(environment: Environment) -> Plan:
    """The run plan, parsed once per process (a worker has it from the master's first spawn message)."""
    text = getattr(environment.parsed_options, "sandbox_plan", "") if environment.parsed_options else ""
    if not text:
        raise RuntimeError("No sandbox plan: run this locustfile with `sandbox loadtest`.")
    if text not in _plans:
        _plans.clear()
        _plans[text] = Plan.from_json(text)
    return _plans[text]


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        environment.events.test_start.add_listener(_pace_users)
    if isinstance(runner, WorkerRunner):
        environment.events.test_stop.add_listener(_hand_over_ledger)
        return
    if isinstance(runner, MasterRunner):
        runner.register_message(LEDGER_MESSAGE, lambda environment, msg, **_kw: ledger.merge(msg.data))
    environment.events.test_start.add_listener(_note_start)
    gevent.spawn(_guard, environment)


def _pace_users(environment: Environment, **_kwargs: Any) -> None:
    """With a pace in the plan, each user runs at most one task per ``pace_seconds`` (a steady rate)."""
    pace = plan_of(environment).pace_seconds
    if pace > 0:
        for user_class in environment.user_classes:
            user_class.wait_time = constant_pacing(pace)


def _hand_over_ledger(environment: Environment, **_kwargs: Any) -> None:
    """A worker's last words, sent before locust's own ``client_stopped``: its final statistics (locust
    itself sends them only on ``quit``, which a master that already saw every worker stop never sends),
    its ledger; then it quits, as the run is over."""
    runner = environment.runner
    runner._send_stats()  # the samples of the last report interval, or the master never sees them
    runner.send_message(LEDGER_MESSAGE, ledger.take())
    gevent.spawn_later(WORKER_EXIT_DELAY_SECONDS, runner.quit)


def _note_start(environment: Environment, **_kwargs: Any) -> None:
    _started.setdefault("at", time.time())
    runner = environment.runner
    _started.setdefault("workers", len(runner.clients) if isinstance(runner, MasterRunner) else 0)


def _guard(environment: Environment) -> None:
    """Stop the run at its time or request limit, write the result file, quit."""
    plan = plan_of(environment)
    while "at" not in _started:
        gevent.sleep(GUARD_INTERVAL_SECONDS)
    reason = "run time reached"
    while time.time() - _started["at"] < plan.run_time_seconds:
        if environment.stats.total.num_requests >= plan.max_requests:
            reason = f"request cap of {plan.max_requests} reached"
            break
        gevent.sleep(GUARD_INTERVAL_SECONDS)
    log.info("%s: stopping the users", reason)
    environment.runner.stop()
    stopped = time.time()
    result = {
        "started_at": _started["at"],
        "stopped_at": stopped,
        "stop_reason": reason,
        "workers": _started["workers"],
        "stats": summarise(environment),
        "ledger": ledger.take(),
    }
    with open(plan.result_path, "w", encoding="utf-8") as output:
        json.dump(result, output)
    environment.runner.quit()


def _entry_summary(entry: Any, seconds: float) -> dict[str, Any]:
    return {
        "method": entry.method or "",
        "name": entry.name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "requests_per_second": entry.num_requests / seconds if seconds > 0 else 0.0,
        "avg_ms": entry.avg_response_time,
        "max_ms": entry.max_response_time,
        **{
            f"p{round(p * 100)}_ms": entry.get_response_time_percentile(p) if entry.num_requests else None
            for p in PERCENTILES
        },
    }


def summarise(environment: Environment) -> dict[str, Any]:
    """Requests, failures, requests/s and percentiles per endpoint and in total; errors; requests/s over
    time (one value per second of the run)."""
    stats = environment.stats
    total = stats.total
    seconds = max((total.last_request_timestamp or 0) - (total.start_time or 0), 0.001)
    first = min(total.num_reqs_per_sec, default=0)
    last = max(total.num_reqs_per_sec, default=-1)
    return {
        "total": _entry_summary(total, seconds),
        "endpoints": [
            _entry_summary(entry, seconds)
            for entry in sorted(stats.entries.values(), key=lambda e: (e.name, e.method or ""))
        ],
        "errors": [
            {"method": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
        "per_second": [
            [second - first, total.num_reqs_per_sec.get(second, 0), total.num_fail_per_sec.get(second, 0)]
            for second in range(first, last + 1)
        ],
        "seconds": seconds,
    }


def retry_after(headers: Mapping[str, str] | None, attempt: int, cap: float) -> float:
    """How long a connector waits before the next attempt: the answer's ``Retry-After`` (seconds), else
    exponential backoff from 0.1 s — never more than ``cap`` (a load test does not wait out an hour)."""
    value = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    try:
        wait = float(value) if value is not None else 0.1 * 2 ** (attempt - 1)
    except ValueError:
        wait = 0.1 * 2 ** (attempt - 1)
    return max(0.0, min(wait, cap))


def with_retries(
    send: Callable[[int], tuple[int, Any]], max_attempts: int, cap_seconds: float
) -> tuple[int, Any, int]:
    """Call ``send(attempt)`` until its status is not one a connector retries, at most ``max_attempts``
    times, waiting between attempts as :func:`retry_after` says. ``send`` returns ``(status, response)``;
    returns ``(status, response, attempts)`` of the last attempt."""
    attempt = 1
    while True:
        status, response = send(attempt)
        if status not in RETRY_STATUSES or attempt >= max_attempts:
            return status, response, attempt
        gevent.sleep(retry_after(getattr(response, "headers", None), attempt, cap_seconds))
        attempt += 1
