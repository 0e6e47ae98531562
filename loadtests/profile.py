"""What a load profile is: a locustfile, the tenant it needs, how to prepare it, and how to reconcile.

A profile module in :mod:`loadtests.profiles` defines ``PROFILE``; its locustfile (in
``loadtests/locustfiles/``) holds the users. ``prepare`` runs in the ``sandbox loadtest`` process before
locust starts, over the control API (``SandboxClient``); what it returns becomes the plan's ``data``.
``reconcile`` runs after locust stopped, from the sandbox's own records and the ledger the users kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.plan import Plan
from loadtests.reconcile import Section
from simulator.scenario.client import TenantClient

LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"
KIND_NAMES = {int: "a whole number", float: "a number", str: "text"}


@dataclass(frozen=True)
class Option:
    """A profile option (``--option NAME=VALUE``): its default decides its type."""

    default: int | float | str
    help: str

    def parse(self, name: str, text: str) -> int | float | str:
        """The value ``text`` gives, of the default's type; a ``ValueError`` with one sentence if bad."""
        kind = type(self.default)
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"--option {name} takes {KIND_NAMES[kind]}, not {text!r}.") from None
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"--option {name} cannot be negative.")
        return value


@dataclass
class Finished:
    """What a reconciliation reads: the tenant, the plan, the merged ledger, the run's length in seconds,
    and how long to wait for in-flight deliveries to drain."""

    tenant: TenantClient
    plan: Plan
    ledger: Mapping[str, Any]
    seconds: float
    drain_timeout: float


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    locustfile: str
    prepare: Callable[[TenantClient, Mapping[str, Any]], dict[str, Any]]
    reconcile: Callable[[Finished], list[Section]]
    options: Mapping[str, Option] = field(default_factory=dict)
    members: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def locustfile_path(self) -> Path:
        return LOCUSTFILES / self.locustfile

    def parse_options(self, given: Mapping[str, str]) -> dict[str, Any]:
        """The profile's options with ``given`` (name → text) applied; ``ValueError`` for an unknown name
        or a bad value."""
        unknown = sorted(given.keys() - self.options.keys())
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"{self.name} has no option {unknown[0]!r} (its options: {known}).")
        values = {name: option.default for name, option in self.options.items()}
        values |= {name: self.options[name].parse(name, text) for name, text in given.items()}
        return values
