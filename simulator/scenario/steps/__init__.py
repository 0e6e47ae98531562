"""Step handlers, one module per family, registered by step kind.

A handler takes the run's :class:`RunContext` and the step's parameters, acts over HTTP only, and returns
what it observed (a small JSON-able dict, free of ids that change between runs). It raises
:class:`StepFailed` with a plain message (expected vs observed) when the step did not do what it says.

Example::

    @step("refund")
    def refund(ctx: RunContext, params: Refund) -> dict[str, Any]:
        ...
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from simulator.scenario.agent import UserAgent
from simulator.scenario.client import TenantClient

StepHandler = Callable[["RunContext", Any], dict[str, Any]]

_HANDLERS: dict[str, StepHandler] = {}


class StepFailed(Exception):
    """The step ran but its outcome is not the one declared."""

    def __init__(self, message: str, observed: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.observed = observed or {}


def step(kind: str) -> Callable[[StepHandler], StepHandler]:
    """Register the handler of ``kind``."""

    def register(handler: StepHandler) -> StepHandler:
        _HANDLERS[kind] = handler
        return handler

    return register


def handler_for(kind: str) -> StepHandler:
    from simulator.scenario.steps import chaos, commerce, control, expect, learning, sso  # noqa: F401 - register

    return _HANDLERS[kind]


def registered_kinds() -> list[str]:
    handler_for("expect")
    return sorted(_HANDLERS)


@dataclass
class Person:
    """One resolved actor (a group has several): who they are in the AMS."""

    actor: str
    email: str
    password: str
    member_id: str
    index: int | None = None

    @property
    def label(self) -> str:
        return self.actor if self.index is None else f"{self.actor}[{self.index}]"


@dataclass
class RunContext:
    """State of one run: the tenant, its people, named orders and each person's browser, the fault rules
    to remove before a named step, and the counters of rules already removed."""

    tenant: TenantClient
    people: dict[str, list[Person]] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    agents: dict[str, UserAgent] = field(default_factory=dict)
    concurrency: int = 1
    """How many people of a group act at once in the current step."""
    faults_until: dict[str, list[int]] = field(default_factory=dict)
    """Fault rule ids to remove just before the step of that name."""
    removed_fault_counts: Counter[str] = field(default_factory=Counter)
    """``{name}:fired`` and ``{name}:matched`` of rules the run removed (the faults condition adds them)."""
    restarts_before: dict[str, int] = field(default_factory=dict)
    """Each process's restarts when the run began (the processes condition counts this run's only)."""

    def each(self, actor: str) -> list[Person]:
        """The people an actor name stands for (one, or every member of a group)."""
        return self.people[actor]

    def one(self, actor: str) -> Person:
        people = self.people[actor]
        if len(people) != 1:
            raise StepFailed(f"'{actor}' is a group of {len(people)}; this step takes one person")
        return people[0]

    def agent(self, person: Person) -> UserAgent:
        if person.email not in self.agents:
            verify = self.tenant.sandbox.verify if self.tenant is not None else None
            self.agents[person.email] = UserAgent(person.label, verify=verify)
        return self.agents[person.email]

    def order_number(self, name: str) -> str:
        return self.orders[name]

    def per_person(self, actor: str, observe: Callable[[Person], dict[str, Any]]) -> dict[str, Any]:
        """``observe`` for each person of ``actor``: one dict for a person, keyed by label for a group.

        With ``concurrency`` above one, that many people act at once (each in a browser of their own),
        so a group really races; the first failure is raised once all have finished.
        """
        people = self.each(actor)
        if self.concurrency > 1 and len(people) > 1:
            for person in people:
                self.agent(person)  # made here, not by the threads
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                futures = [(person.label, pool.submit(observe, person)) for person in people]
            results = {label: future.result() for label, future in futures}
        else:
            results = {person.label: observe(person) for person in people}
        if len(people) == 1 and people[0].index is None:
            return results[people[0].label]
        return results

    def remember_order(self, name: str | None, number: str) -> None:
        self.orders["last"] = number
        if name:
            self.orders[name] = number

    def order_name(self, number: str) -> str:
        """The scenario's name for an order number (scenario files refer to orders by name)."""
        names = [name for name, value in self.orders.items() if value == number and name != "last"]
        return names[0] if names else "last"

    def remove_faults_before(self, step_name: str | None) -> list[str]:
        """Remove the fault rules a ``set_fault … until: step_name`` asked to end here; their names."""
        removed = []
        for rule in self.tenant.faults() if step_name in self.faults_until else []:
            if rule["id"] in self.faults_until[step_name]:
                name = rule["rule"].get("name") or f"rule {rule['id']}"
                self.removed_fault_counts[f"{name}:fired"] += rule["fired_count"]
                self.removed_fault_counts[f"{name}:matched"] += rule["matched_count"]
                self.tenant.control("DELETE", f"/faults/{rule['id']}")
                removed.append(name)
        self.faults_until.pop(step_name or "", None)
        return removed

    def close(self) -> None:
        for agent in self.agents.values():
            agent.close()
        self.agents.clear()
