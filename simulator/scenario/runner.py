"""Run a scenario against a live sandbox: a fresh tenant, its actors, then every step in order.

Each run gets its own tenant (``sc-{file}-{random}``), created from the file's seed with its business
clock frozen at ``tenant.clock_start``, so the same file gives the same data every time. Steps act only
over HTTP (:mod:`simulator.scenario.steps`); each produces one timeline entry ``{step, ok, duration_ms,
observed, error}``. The run stops at the first failure (the rest are listed as skipped). The tenant is
deleted afterwards unless the scenario or the caller keeps it.

Example::

    with SandboxClient.from_config(load_config()) as client:
        result = run_scenario(load_scenario(path), client)
        result.ok
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.core.http_failures import http_failure
from simulator.scenario.client import ApiError, SandboxClient, TenantClient
from simulator.scenario.loader import LoadedScenario
from simulator.scenario.model import Actor, Scenario, StepBase
from simulator.scenario.steps import Person, RunContext, StepFailed, handler_for

log = logging.getLogger(__name__)

GENERATED_EMAIL_DOMAIN = "scenario.test"
SUMMARY_FIELDS = (
    "actor",
    "staff",
    "product",
    "course",
    "order",
    "organisation",
    "score",
    "minutes",
    "status",
)


@dataclass
class StepResult:
    index: int
    step: str
    label: str
    line: int
    ok: bool | None = None
    duration_ms: float = 0.0
    observed: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def skipped(self) -> bool:
        return self.ok is None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "step": self.step,
            "label": self.label,
            "line": self.line,
            "ok": self.ok,
            "skipped": self.skipped,
            "duration_ms": round(self.duration_ms, 1),
            "observed": self.observed,
            "error": self.error,
        }


@dataclass
class RunResult:
    scenario: str
    file: str
    tenant: str
    seed: dict[str, int]
    started_at: str
    setup: StepResult
    steps: list[StepResult]
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.setup.ok) and all(step.ok for step in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in [self.setup, *self.steps] if s.ok is False), None)

    def to_json(self) -> dict[str, Any]:
        failed = self.failed_step
        return {
            "scenario": self.scenario,
            "file": self.file,
            "tenant": self.tenant,
            "seed": self.seed,
            "ok": self.ok,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "failed_step": failed.index if failed else None,
            "error": failed.error if failed else None,
            "setup": self.setup.to_json(),
            "steps": [step.to_json() for step in self.steps],
        }


def run_tenant_id(loaded: LoadedScenario) -> str:
    """A unique tenant id for one run: ``sc-`` + the file's name + random hex."""
    slug = re.sub(r"[^a-z0-9]+", "-", loaded.path.stem.lower()).strip("-")[:44] or "scenario"
    return f"sc-{slug}-{secrets.token_hex(4)}"


def step_label(step: StepBase) -> str:
    """``sso_login alex`` and the like: the step's kind and its main parameters."""
    if step.name:
        return step.name
    params = step.params
    if isinstance(params, dict):
        return f"{step.kind} {' '.join(sorted(params))}"
    if step.kind in ("expect", "wait_for"):
        return " ".join([step.kind, *(name for name, _ in params.given())])
    if step.kind == "advance_clock":
        amounts = params.model_dump(include={"days", "hours", "minutes", "seconds"})
        given = [f"{unit}={value:g}" for unit, value in amounts.items() if value]
        return " ".join([step.kind, *given, *([f"until={params.until.isoformat()}"] if params.until else [])])
    words = [step.kind]
    for name in SUMMARY_FIELDS:
        value = getattr(params, name, None)
        if value is not None and not isinstance(value, bool):
            words.append(f"{name}={value}" if name not in ("actor", "product", "course") else str(value))
    return " ".join(words)


def run_scenario(loaded: LoadedScenario, client: SandboxClient, keep_tenant: bool = False) -> RunResult:
    """Run one loaded scenario and return its timeline (never raises for a failing step)."""
    scenario = loaded.scenario
    started = time.perf_counter()
    fresh = scenario.tenant.existing is None
    tenant_id = run_tenant_id(loaded) if fresh else str(scenario.tenant.existing)
    result = RunResult(
        scenario=scenario.name,
        file=str(loaded.path),
        tenant=tenant_id,
        seed=scenario.seed.model_dump(),
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        setup=StepResult(0, "setup", "fresh tenant, actors" if fresh else f"tenant {tenant_id}, actors", 1),
        steps=[
            StepResult(index + 1, step.kind, step_label(step), loaded.step_lines[index])
            for index, step in enumerate(scenario.steps)
        ],
    )
    ctx: RunContext | None = None
    created = False
    try:
        ctx = _timed(result.setup, lambda: _set_up(scenario, client, tenant_id, fresh))
        created = fresh and ctx is not None
        if ctx is not None:
            result.setup.observed = setup_observed(ctx)
            for entry, step in zip(result.steps, scenario.steps, strict=True):
                _timed(entry, lambda step=step: _run_step(ctx, step))
                if not entry.ok:
                    break
    finally:
        if ctx is not None:
            ctx.close()
        if created and not (keep_tenant or scenario.tenant.keep):
            _delete_quietly(client, tenant_id)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def _run_step(ctx: RunContext, step: StepBase) -> dict[str, Any]:
    """Remove the fault rules that end before this step, then run it (its group ``concurrency`` wide)."""
    removed = ctx.remove_faults_before(step.name)
    ctx.concurrency = step.concurrency
    observed = handler_for(step.kind)(ctx, step.params)
    return ({"faults_removed": removed} if removed else {}) | (observed or {})


def _timed(entry: StepResult, action: Any) -> Any:
    started = time.perf_counter()
    outcome = None
    try:
        outcome = action()
        entry.ok = True
        if isinstance(outcome, dict):
            entry.observed = outcome
    except StepFailed as exc:
        entry.ok, entry.error, entry.observed = False, exc.message, exc.observed
    except ApiError as exc:
        entry.ok, entry.error = False, str(exc)
    except httpx.HTTPError as exc:
        entry.ok, entry.error = False, f"the sandbox did not answer: {http_failure(exc)}"
    entry.duration_ms = (time.perf_counter() - started) * 1000
    return outcome if entry.ok else None


def _set_up(scenario: Scenario, client: SandboxClient, tenant_id: str, fresh: bool) -> RunContext:
    if fresh:
        tenant = client.create_tenant(
            tenant_id,
            name=scenario.tenant.name or scenario.name[:200],
            seed=scenario.seed.faker_seed,
            members=scenario.seed.members,
            settings=scenario.settings,
            clock_start=scenario.tenant.clock_start,
        )
    else:
        tenant = client.tenant(tenant_id)
        if scenario.settings:
            tenant.patch_settings(scenario.settings)
    ctx = RunContext(tenant)
    ctx.restarts_before = _restarts(client)
    today = dt.date.fromisoformat(tenant.clock()["local_now"][:10])
    for name, actor in scenario.actors.items():
        ctx.people[name] = _resolve_actor(tenant, name, actor, today)
    return ctx


def _restarts(client: SandboxClient) -> dict[str, int]:
    """How often each process of the sandbox was restarted so far (none when not run by `sandbox up`)."""
    try:
        return {process["name"]: process["restarts"] for process in client.processes()}
    except ApiError:
        return {}


def setup_observed(ctx: RunContext) -> dict[str, Any]:
    return {
        "actors": {
            name: [p.member_id for p in people] if len(people) > 1 else people[0].member_id
            for name, people in ctx.people.items()
        }
    }


def _resolve_actor(tenant: TenantClient, name: str, actor: Actor, today: dt.date) -> list[Person]:
    if actor.persona is not None:
        member = tenant.member_by_email(actor.persona)
        if member is None:
            raise StepFailed(f"actor '{name}': there is no person {actor.persona} in the AMS")
        return [Person(name, member["email"], actor.password, member["member_id"])]
    spec = actor.member
    assert spec is not None  # an actor is a persona or a member (checked by the model)
    people = []
    for index in range(actor.count):
        suffix = f".{index + 1:02d}" if actor.count > 1 else ""
        email = f"{name.replace('_', '.')}{suffix}@{GENERATED_EMAIL_DOMAIN}"
        fields: dict[str, Any] = {
            "email": email,
            "given_name": name.replace("_", " ").title() + (f" {index + 1}" if actor.count > 1 else ""),
            "family_name": "Scenario",
            "record_type": spec.record_type,
            "password": actor.password,
            "roles": spec.roles,
            "profile": spec.profile,
        }
        if spec.organisation:
            fields["organisation"] = spec.organisation
        if spec.record_type == "member":
            expiry = spec.expiry_date or today + dt.timedelta(days=365)
            fields |= {
                "member_type": spec.member_type or "regular",
                "status": spec.status or "active",
                "expiry_date": expiry.isoformat(),
                "join_date": (expiry - dt.timedelta(days=730)).isoformat(),
            }
        member = tenant.create_member(fields)
        people.append(
            Person(name, email, actor.password, member["member_id"], index if actor.count > 1 else None)
        )
    return people


def _delete_quietly(client: SandboxClient, tenant_id: str) -> None:
    try:
        client.delete_tenant(tenant_id)
    except (ApiError, httpx.HTTPError) as exc:
        log.warning("could not delete the run's tenant %s: %s", tenant_id, exc)
