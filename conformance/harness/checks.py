"""Checks and suites: what a conformance check is, what it found, and the registry a suite keeps.

A check has a stable id (``SAML-SP-XSW-3``), a level (MUST: a failure fails the certification; SHOULD:
reported, never fatal), a title, the spec section it enforces and a remediation hint. Running it yields a
:class:`Verdict` built from what the connector *did* (did a session appear, as whom, did it stay up),
with what was sent and what was observed, never from the connector's error text.

Example::

    suite = Suite("saml-sp", "SAML service provider", "…")

    @suite.check("SAML-SP-PROTO-3", MUST, "protocol", "Audience wrong", "SAML core 2.0 §2.5.1.4", "…")
    def wrong_audience(world: World) -> Verdict:
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"


MUST = Level.MUST
SHOULD = Level.SHOULD


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not_judged"
    """The check could not tell: the honest baseline never showed a session, or its own setup failed."""
    SKIPPED = "skipped"
    """Not applicable to this connector (its metadata or target says so), or left out with --only/--skip."""


class NotJudged(Exception):
    """Raised by a check that cannot reach a verdict (e.g. its own sign-on never got a response)."""

    def __init__(self, reason: str, sent: Sent | None = None, observed: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent or Sent()
        self.observed = observed or {}


@dataclass
class Sent:
    """What a check sent the connector: a sentence, and for messages the document and its change."""

    description: str = ""
    message: str | None = None
    """The message as sent (for XML: pretty-printed when it parses), capped for the report."""
    changed_lines: list[int] = field(default_factory=list)
    """1-based lines of ``message`` that differ from the genuine message."""
    diff: str | None = None
    """A unified diff of the genuine message against the sent one."""

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "message": self.message,
            "changed_lines": self.changed_lines,
            "diff": self.diff,
        }


@dataclass
class Verdict:
    passed: bool
    reason: str
    sent: Sent = field(default_factory=Sent)
    observed: dict[str, Any] = field(default_factory=dict)


CheckFunction = Callable[[Any], Verdict]
Applicability = Callable[[Any], str | None]


@dataclass(frozen=True)
class Check:
    id: str
    level: Level
    group: str
    title: str
    spec: str
    remediation: str
    run: CheckFunction
    applies: Applicability | None = None
    """Returns why the check does not apply to this connector (then it is skipped), or None."""
    needs_baseline: bool = True
    """False for checks that judge documents (metadata, requests) rather than sign-ins."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": str(self.level),
            "group": self.group,
            "title": self.title,
            "spec": self.spec,
            "remediation": self.remediation,
        }


@dataclass
class CheckResult:
    check: Check
    outcome: Outcome
    reason: str
    duration_ms: float = 0.0
    sent: Sent = field(default_factory=Sent)
    observed: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.check.to_json() | {
            "outcome": str(self.outcome),
            "reason": self.reason,
            "duration_ms": round(self.duration_ms, 1),
            "sent": self.sent.to_json(),
            "observed": self.observed,
        }


@dataclass
class Suite:
    """One connector role's checks, in the order they run, and how a run of them is set up.

    ``target_model`` validates the suite's target files; ``open_world(loaded_target, sandbox_client,
    keep)`` is a context manager that sets a run up and tears it down; ``calibrate(world)`` runs the
    honest baseline; ``template`` is the commented target file ``sandbox certify init`` writes.
    """

    name: str
    title: str
    description: str
    checks: list[Check] = field(default_factory=list)
    target_model: Any = None
    open_world: Callable[..., Any] | None = None
    calibrate: Callable[[Any], None] | None = None
    template: str = ""

    def check(
        self,
        check_id: str,
        level: Level,
        group: str,
        title: str,
        spec: str,
        remediation: str,
        applies: Applicability | None = None,
        needs_baseline: bool = True,
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Register the decorated function as a check (ids are unique within the suite)."""

        def register(function: CheckFunction) -> CheckFunction:
            if any(existing.id == check_id for existing in self.checks):
                raise ValueError(f"check id {check_id} is registered twice")
            self.checks.append(
                Check(check_id, level, group, title, spec, remediation, function, applies, needs_baseline)
            )
            return function

        return register
