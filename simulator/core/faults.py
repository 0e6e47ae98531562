"""Fault injection: per-tenant rules that make AMS and LMS requests fail in the ways real systems do.

A rule says which requests it matches (``app``, ``method``, ``path`` glob after ``/t/{tenant}``), what
happens to them (a status and body, ``Retry-After``, a fixed or lognormal delay, a connection reset, an
empty or malformed body), how often (``probability`` drawn from a seeded RNG, ``first_n`` or
``every_nth``), for how long (``for``: a stretch of the tenant's business time from when the rule is
added, kept as ``active_until``) and is stored in ``fault_rules``. Rules are evaluated in ``position``
order; the first rule that matches **and** fires wins.

Counters live in the database (``UPDATE … RETURNING``), so N processes behind one database share them:
"the first 3 requests fail" means the first 3 requests any process serves. The probability draw for the
nth matching request depends only on the rule's ``seed``, its position and n, so an identical rule list
fires on the same requests in every process and on every run.

Example::

    replace_rules(db, "acme", [{"app": "ams", "path": "/writeback/*", "status": 503, "first_n": 2}])
    fault = decide_fault(db, "acme", "ams", "POST", "/writeback/records")   # fires: FiredFault(...)
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, select, update

from simulator.core.clock import tenant_now, wall_now
from simulator.core.db import INT32_MAX, Database
from simulator.core.errors import Conflict, NotFound, validation_failed_from_pydantic
from simulator.core.models import FaultRule
from simulator.core.tenancy import get_tenant

MAX_DELAY_MS = 60_000.0
MAX_RULES = 200
MALFORMED_JSON_BODY = b'{"data": [{"id": 1, "sta'

FaultKind = Literal["respond", "connection_reset", "empty_body", "malformed_body"]
MAX_WINDOW_SECONDS = 366 * 86_400
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}


def duration_seconds(value: Any) -> Any:
    """``10 minutes``, ``1 hour``, ``2 days`` (or plain seconds) as seconds; anything else is left for
    pydantic to refuse."""
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match is None:
            raise ValueError("give a duration such as '10 minutes', '1 hour' or '2 days' (or seconds)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


class ConnectionResetFault(ConnectionResetError):
    """A ``connection_reset`` fault fired (raised to the WSGI server, or to a test client without socket)."""

    def __init__(self, rule_id: int) -> None:
        super().__init__(errno.ECONNRESET, f"fault rule {rule_id} reset the connection")
        self.rule_id = rule_id


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LognormalParameters(_Strict):
    median_ms: float = Field(..., gt=0, le=MAX_DELAY_MS)
    sigma: float = Field(..., ge=0, le=5, description="Spread: delay = median_ms · exp(sigma · Z).")


class DelaySpec(_Strict):
    """``{"fixed_ms": N}`` or ``{"lognormal": {"median_ms": M, "sigma": S}}``."""

    fixed_ms: float | None = Field(None, ge=0, le=MAX_DELAY_MS, description="Milliseconds to wait.")
    lognormal: LognormalParameters | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DelaySpec:
        if (self.fixed_ms is None) == (self.lognormal is None):
            raise ValueError("give exactly one of 'fixed_ms' or 'lognormal'")
        return self


class FaultRuleSpec(_Strict):
    """One fault rule (the ``rule`` document of a ``fault_rules`` row)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(None, max_length=120, description="A label shown in the journal.")
    app: Literal["ams", "lms"] | None = Field(None, description="Which app; null matches both.")
    method: str | None = Field(None, description="HTTP method; null matches any.", examples=["POST"])
    path: str = Field(
        "*",
        min_length=1,
        max_length=1000,
        description="fnmatch glob over the path after /t/{tenant}, e.g. '/api/members*'.",
    )
    status: int | None = Field(None, ge=100, le=599, description="Status of the injected response.")
    body: str | None = Field(None, max_length=100_000, description="Body of the injected response.")
    content_type: str = Field("application/json", min_length=1, max_length=200)
    headers: dict[str, str] = Field(default_factory=dict, description="Extra response headers.")
    retry_after: int | None = Field(None, ge=0, le=86_400, description="Seconds, sent as Retry-After.")
    delay: DelaySpec | None = Field(
        None, description="Wait first; then respond, or pass the request on when no status/kind is given."
    )
    kind: FaultKind | None = Field(
        None, description="'respond' (default when a status is given), or a broken connection/body."
    )
    probability: float = Field(1.0, ge=0, le=1, description="Chance that a matching request fires.")
    seed: int = Field(
        0,
        ge=-INT32_MAX,
        le=INT32_MAX,
        description="Seed of the per-request draw (same seed, same requests fire).",
    )
    first_n: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Fire only on the first N matching requests."
    )
    every_nth: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Fire on matching requests N, 2N, 3N…"
    )
    for_seconds: float | None = Field(
        None,
        alias="for",
        gt=0,
        le=MAX_WINDOW_SECONDS,
        description="How long the rule lasts, in the tenant's business time from when it is added: "
        "seconds, or text such as '10 minutes', '1 hour', '2 days'. Advancing the clock past it ends it.",
    )
    active_until: dt.datetime | None = Field(
        None, description="Business time the rule ends at (set from 'for' when the rule is added)."
    )

    @field_validator("for_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration_seconds(value)

    @field_validator("active_until")
    @classmethod
    def _aware_until(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def ends_from(self, now: dt.datetime) -> FaultRuleSpec:
        """The rule as stored when added at business time ``now``: ``for`` becomes ``active_until``."""
        if self.for_seconds is None or self.active_until is not None:
            return self
        return self.model_copy(update={"active_until": now + dt.timedelta(seconds=self.for_seconds)})

    def active_at(self, now: dt.datetime) -> bool:
        return self.active_until is None or now < self.active_until

    @field_validator("method")
    @classmethod
    def _method_upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isascii() or not value.isalpha() or len(value) > 16:
            raise ValueError("must be an HTTP method such as GET or POST")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if value[0] not in "/*?[":
            raise ValueError("must start with '/' (or a wildcard), e.g. '/api/members*'")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not name or any(c in name for c in " :\r\n") or "\n" in header or "\r" in header:
                raise ValueError(f"'{name}' is not a usable header")
        return value

    @model_validator(mode="after")
    def _one_coherent_effect(self) -> FaultRuleSpec:
        if self.first_n is not None and self.every_nth is not None:
            raise ValueError("give either 'first_n' or 'every_nth', not both")
        if self.kind == "respond" and self.status is None:
            raise ValueError("kind 'respond' needs a 'status'")
        if self.kind == "connection_reset" and (
            self.status is not None or self.body is not None or self.headers or self.retry_after is not None
        ):
            raise ValueError("a connection reset sends no response: drop status, body, headers, retry_after")
        if self.kind in ("empty_body", "malformed_body") and self.body is not None:
            raise ValueError(f"kind '{self.kind}' makes its own body: drop 'body'")
        if self.effective_kind is None:
            if self.delay is None:
                raise ValueError("a rule needs an effect: a 'status', a 'kind' or a 'delay'")
            if self.body is not None or self.headers or self.retry_after is not None:
                raise ValueError("'body', 'headers' and 'retry_after' need a 'status' or a 'kind'")
        return self

    @property
    def effective_kind(self) -> FaultKind | None:
        """What the rule does after any delay; ``None`` means pass the request on to the app."""
        if self.kind is not None:
            return self.kind
        return "respond" if self.status is not None else None

    def matches(self, app: str, method: str, path: str) -> bool:
        """Does a request to ``app`` with ``method`` and tenant-relative ``path`` match this rule?"""
        return (
            (self.app is None or self.app == app)
            and (self.method is None or self.method == method.upper())
            and fnmatchcase(path, self.path)
        )


def parse_rule(document: Any, field_prefix: str = "") -> FaultRuleSpec:
    """Validate one rule document; raises ``ValidationFailed`` (422) naming each bad field."""
    if isinstance(document, FaultRuleSpec):
        return document
    try:
        return FaultRuleSpec.model_validate(document)
    except ValidationError as exc:
        raise validation_failed_from_pydantic(exc, prefix=field_prefix) from exc


def should_fire(spec: FaultRuleSpec, n: int, rng: random.Random) -> bool:
    """Do the counts and the probability draw let the rule fire on its nth matching request?"""
    if spec.first_n is not None and n > spec.first_n:
        return False
    if spec.every_nth is not None and n % spec.every_nth != 0:
        return False
    return rng.random() < spec.probability


def delay_ms_for(spec: FaultRuleSpec, rng: random.Random) -> float:
    """The delay of one firing: fixed, or ``median_ms · exp(sigma · Z)`` with Z ~ N(0, 1); at most 60 s."""
    if spec.delay is None:
        return 0.0
    params = spec.delay.lognormal
    if params is None:
        return min(spec.delay.fixed_ms or 0.0, MAX_DELAY_MS)
    return min(params.median_ms * math.exp(params.sigma * rng.gauss(0.0, 1.0)), MAX_DELAY_MS)


def draw(spec: FaultRuleSpec, position: int, n: int) -> tuple[bool, float]:
    """Does the rule at ``position`` fire on its nth matching request, and with what delay (ms)?

    The per-request RNG is seeded with ``"{seed}:{position}:{n}"``, so the answer is the same in every
    process and on every run of an identical rule list.
    """
    rng = random.Random(f"{spec.seed}:{position}:{n}")
    if not should_fire(spec, n, rng):
        return False, 0.0
    return True, delay_ms_for(spec, rng)


@dataclass(frozen=True)
class FiredFault:
    """A rule that fired on one request, with everything needed to apply it."""

    rule_id: int
    spec: FaultRuleSpec
    delay_ms: float
    n: int

    @property
    def kind(self) -> FaultKind | None:
        return self.spec.effective_kind

    @property
    def status(self) -> int:
        return self.spec.status if self.spec.status is not None else 200

    def effect_summary(self) -> str:
        """A short human description, e.g. 'status 503' or 'delay 120 ms, then pass through'."""
        kind = self.kind
        if kind == "respond":
            effect = f"status {self.status}"
        elif kind == "connection_reset":
            effect = "connection reset"
        elif kind == "empty_body":
            effect = f"empty body (status {self.status})"
        elif kind == "malformed_body":
            effect = f"malformed body (status {self.status})"
        else:
            effect = "pass through"
        if self.spec.delay is not None:
            effect = f"delay {self.delay_ms:.0f} ms, then {effect}"
        return effect

    def describe(self) -> dict[str, Any]:
        """What the journal records about the fault (``environ['sandbox.fault']``)."""
        return {
            "rule_id": self.rule_id,
            "name": self.spec.name,
            "kind": self.kind or "delay",
            "effect": self.effect_summary(),
            "delay_ms": round(self.delay_ms, 3),
            "match_number": self.n,
        }

    def response_parts(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body of the injected response (for kinds that send one)."""
        headers = [("Content-Type", self.spec.content_type)]
        if self.spec.retry_after is not None:
            headers.append(("Retry-After", str(self.spec.retry_after)))
        headers.extend(self.spec.headers.items())
        if self.kind == "malformed_body":
            body = MALFORMED_JSON_BODY
        elif self.kind == "empty_body":
            body = b""
        else:
            body = (self.spec.body or "").encode("utf-8")
        return self.status, headers, body


def decide_fault(
    db: Database,
    tenant_id: str,
    app: str,
    method: str,
    path: str,
    business_now: Callable[[], dt.datetime] | None = None,
) -> FiredFault | None:
    """The fault to apply to one request, if any (spec: first matching rule that fires wins).

    One indexed SELECT per request; only rules that match pay for the atomic counter update. A rule whose
    window (``active_until``) has passed on the tenant's business clock is skipped: ``business_now``
    tells the time (the tenant is read when it is not given and such a rule is met).
    """
    with db.read() as session:
        rows = session.execute(
            select(FaultRule.id, FaultRule.position, FaultRule.rule)
            .where(FaultRule.tenant_id == tenant_id)
            .order_by(FaultRule.position, FaultRule.id)
        ).all()
    now: dt.datetime | None = None
    for rule_id, position, document in rows:
        spec = FaultRuleSpec.model_validate(document)
        if not spec.matches(app, method, path):
            continue
        if spec.active_until is not None:
            if now is None:
                now = business_now() if business_now is not None else _tenant_now(db, tenant_id)
            if not spec.active_at(now):
                continue
        with db.session() as session:
            n = session.execute(
                update(FaultRule)
                .where(FaultRule.id == rule_id)
                .values(matched_count=FaultRule.matched_count + 1)
                .returning(FaultRule.matched_count)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if n is None:  # cleared meanwhile
                continue
            fires, delay_ms = draw(spec, position, n)
            if not fires:
                continue
            session.execute(
                update(FaultRule)
                .where(FaultRule.id == rule_id)
                .values(fired_count=FaultRule.fired_count + 1)
                .execution_options(synchronize_session=False)
            )
        return FiredFault(rule_id=rule_id, spec=spec, delay_ms=delay_ms, n=n)
    return None


def rule_out(row: FaultRule) -> dict[str, Any]:
    """A stored rule as the control API shows it."""
    return {
        "id": row.id,
        "position": row.position,
        "rule": row.rule,
        "matched_count": row.matched_count,
        "fired_count": row.fired_count,
        "created_at": row.created_at.isoformat(),
    }


def _stored(spec: FaultRuleSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True, by_alias=True)


def _tenant_now(db: Database, tenant_id: str) -> dt.datetime:
    with db.read() as session:
        return _business_now(session, tenant_id)


def _business_now(session: Any, tenant_id: str) -> dt.datetime:
    return tenant_now(get_tenant(session, tenant_id))


def list_rules(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's rules in evaluation order, with their counters."""
    with db.read() as session:
        rows = session.scalars(
            select(FaultRule)
            .where(FaultRule.tenant_id == tenant_id)
            .order_by(FaultRule.position, FaultRule.id)
        )
        return [rule_out(row) for row in rows]


def replace_rules(
    db: Database, tenant_id: str, rules: Sequence[FaultRuleSpec | Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the tenant's whole rule list: every rule is validated first, then all are written at once."""
    specs = [parse_rule(rule, field_prefix=f"rules.{index}") for index, rule in enumerate(rules)]
    now = wall_now()
    with db.session() as session:
        business_now = _business_now(session, tenant_id)
        specs = [spec.ends_from(business_now) for spec in specs]
        session.execute(delete(FaultRule).where(FaultRule.tenant_id == tenant_id))
        rows = [
            FaultRule(
                tenant_id=tenant_id,
                position=position,
                rule=_stored(spec),
                matched_count=0,
                fired_count=0,
                created_at=now,
            )
            for position, spec in enumerate(specs)
        ]
        session.add_all(rows)
        session.flush()
        return [rule_out(row) for row in rows]


def append_rule(db: Database, tenant_id: str, rule: FaultRuleSpec | Mapping[str, Any]) -> dict[str, Any]:
    """Add one rule after the tenant's existing ones (at most :data:`MAX_RULES` in all, as for a replace)."""
    spec = parse_rule(rule)
    with db.session() as session:
        spec = spec.ends_from(_business_now(session, tenant_id))
        count, last = session.execute(
            select(func.count(), func.max(FaultRule.position)).where(FaultRule.tenant_id == tenant_id)
        ).one()
        if count >= MAX_RULES:
            raise Conflict(
                f"Tenant '{tenant_id}' already has {count} fault rules, the most a tenant may have; "
                "delete or clear some first.",
                code="too_many_fault_rules",
            )
        row = FaultRule(
            tenant_id=tenant_id,
            position=0 if last is None else last + 1,
            rule=_stored(spec),
            matched_count=0,
            fired_count=0,
            created_at=wall_now(),
        )
        session.add(row)
        session.flush()
        return rule_out(row)


def delete_rule(db: Database, tenant_id: str, rule_id: int) -> None:
    """Remove one rule; a rule of another tenant is reported as missing."""
    with db.session() as session:
        deleted = session.execute(
            delete(FaultRule).where(FaultRule.tenant_id == tenant_id, FaultRule.id == rule_id)
        ).rowcount
    if not deleted:
        raise NotFound(f"Tenant '{tenant_id}' has no fault rule {rule_id}.", code="fault_rule_not_found")


def clear_rules(db: Database, tenant_id: str) -> int:
    """Remove every rule of the tenant; returns how many there were."""
    with db.session() as session:
        return session.execute(delete(FaultRule).where(FaultRule.tenant_id == tenant_id)).rowcount
