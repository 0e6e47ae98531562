"""Run a suite's checks against a connector and collect a :class:`RunReport`.

The honest baseline runs first: when it never shows a session at the probe, every check that needs it is
reported ``not_judged`` (a refused forgery proves nothing when nothing is ever accepted), never
``passed``. Checks that do not apply to the connector are ``skipped`` with the reason. A check that
raises :class:`~conformance.harness.checks.NotJudged` is ``not_judged``; the run goes on.

Example::

    report = run_checks(suite, world, select(suite, only=["SAML-SP-XSW-*"], skip=[]), progress=print)
    report.ok  # every MUST check passed
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.harness.checks import MUST, Check, CheckResult, NotJudged, Outcome, Suite
from simulator import __version__
from simulator.core.errors import SandboxError
from simulator.scenario.client import ApiError, call_failure

REPORT_VERSION = 1


class TargetUnusable(SandboxError):
    """The connector cannot be certified at all (unreachable, metadata that is not XML…): exit code 2."""

    code = "target_unusable"


class UnknownCheck(SandboxError):
    code = "unknown_check"


@dataclass
class RunReport:
    suite: Suite
    target_file: str
    started_at: str
    context: dict[str, Any]
    results: list[CheckResult] = field(default_factory=list)
    duration_ms: float = 0.0
    baseline: str = ""

    @property
    def ok(self) -> bool:
        """Every MUST check that ran passed (a MUST check not judged is not a pass)."""
        return not any(
            r.check.level == MUST and r.outcome in (Outcome.FAILED, Outcome.NOT_JUDGED) for r in self.results
        )

    def count(self, outcome: Outcome, level: str | None = None) -> int:
        return sum(
            1 for r in self.results if r.outcome == outcome and (level is None or r.check.level == level)
        )

    def summary(self) -> dict[str, int]:
        return {
            "checks": len(self.results),
            "passed": self.count(Outcome.PASSED),
            "failed": self.count(Outcome.FAILED),
            "not_judged": self.count(Outcome.NOT_JUDGED),
            "skipped": self.count(Outcome.SKIPPED),
            "must_failed": self.count(Outcome.FAILED, "MUST"),
            "should_failed": self.count(Outcome.FAILED, "SHOULD"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "suite": self.suite.name,
            "suite_title": self.suite.title,
            "sandbox_version": __version__,
            "target_file": self.target_file,
            "target": self.context,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "ok": self.ok,
            "baseline": self.baseline,
            "summary": self.summary(),
            "checks": [result.to_json() for result in self.results],
        }


def select(suite: Suite, only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """The checks ``--only`` and ``--skip`` leave (ids or shell patterns such as ``SAML-SP-XSW-*``)."""
    for pattern in (*only, *skip):
        if not any(fnmatch.fnmatchcase(check.id, pattern.upper()) for check in suite.checks):
            raise UnknownCheck(
                f"No check of {suite.name} matches '{pattern}' (see `sandbox certify list {suite.name}`)."
            )
    chosen = [c for c in suite.checks if not only or any(fnmatch.fnmatchcase(c.id, p.upper()) for p in only)]
    return [c for c in chosen if not any(fnmatch.fnmatchcase(c.id, p.upper()) for p in skip)]


Progress = Callable[[CheckResult, int, int], None]


def run_checks(
    suite: Suite,
    world: Any,
    checks: Sequence[Check],
    target_file: str,
    progress: Progress | None = None,
) -> RunReport:
    """Calibrate with the honest baseline, then run ``checks`` in order (never raises for a check)."""
    started = time.perf_counter()
    report = RunReport(
        suite, target_file, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), world.describe()
    )
    if suite.calibrate is not None:
        suite.calibrate(world)
    report.baseline = world.baseline.reason if world.baseline is not None else "not run"
    for index, check in enumerate(checks, start=1):
        result = run_check(check, world)
        report.results.append(result)
        if progress is not None:
            progress(result, index, len(checks))
    report.duration_ms = (time.perf_counter() - started) * 1000
    return report


def run_check(check: Check, world: Any) -> CheckResult:
    """One check's result: skipped, not judged (no baseline, or the check said so), passed or failed."""
    started = time.perf_counter()
    reason = check.applies(world) if check.applies is not None else None
    if reason is not None:
        return CheckResult(check, Outcome.SKIPPED, f"Not applicable: {reason}")
    if check.needs_baseline and not world.baseline_ok:
        why = world.baseline.reason if world.baseline is not None else "the baseline did not run"
        return CheckResult(
            check, Outcome.NOT_JUDGED, f"Not judged: the honest response never showed a session ({why})"
        )
    try:
        verdict = check.run(world)
    except NotJudged as exc:
        result = CheckResult(
            check, Outcome.NOT_JUDGED, f"Not judged: {exc.reason}", 0.0, exc.sent, exc.observed
        )
    except (ApiError, httpx.HTTPError) as exc:
        result = CheckResult(check, Outcome.NOT_JUDGED, f"Not judged: {call_failure(exc)}")
    else:
        outcome = Outcome.PASSED if verdict.passed else Outcome.FAILED
        result = CheckResult(check, outcome, verdict.reason, 0.0, verdict.sent, verdict.observed)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result
