"""The run plan: everything a locust process needs to load one tenant, handed over as one JSON document.

``sandbox loadtest`` prepares the tenant (members, secrets, settings, faults) over the control API, then
starts locust with the plan in the ``SANDBOX_LOADTEST_PLAN`` environment variable (not on the command line,
where ``ps`` would show the tenant's key). Locust reads it as its custom ``--sandbox-plan`` option and,
when it runs distributed, forwards it to every worker with the first spawn message — workers joining from
other machines need nothing but the master's address.

This module does not import locust: the CLI process never does (locust patches the whole standard
library with gevent on import).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PLAN_ENV = "SANDBOX_LOADTEST_PLAN"
LEDGER_MESSAGE = "sandbox-ledger"


@dataclass
class Plan:
    """One run: which profile, against which tenant, for how long, and the profile's own data.

    ``data`` holds what the profile's ``prepare`` made (member ids, a signing secret…); ``options`` the
    profile options the user gave (``--option bulk=100``); ``result_path`` is where the master (or the
    only locust process) writes its statistics and the merged ledger when the run ends. ``pace_seconds``
    above 0 makes each user run one task per that many seconds at most (a steady rate, for soaks).
    """

    profile: str
    run_id: str
    tenant: str
    tenant_key: str
    console_url: str
    ams_url: str
    lms_url: str
    run_time_seconds: float
    max_requests: int
    result_path: str
    options: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    pace_seconds: float = 0.0

    @property
    def ams_base(self) -> str:
        return f"{self.ams_url}/t/{self.tenant}"

    @property
    def lms_base(self) -> str:
        return f"{self.lms_url}/t/{self.tenant}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls(**json.loads(text))


def learner_prefix(run_id: str) -> str:
    """How the member ids of the learners a run creates begin (``completion-storm``)."""
    return f"LT{run_id}L"


def buyer_prefix(run_id: str) -> str:
    """How the member ids of the buyers a run creates begin (``checkout``): apart from the learners', so
    that a mix of both in one tenant reconciles each on its own."""
    return f"LT{run_id}B"


def part_data(plan: Plan, profile: str) -> dict[str, Any]:
    """What ``profile``'s prepare made: the plan's data, or its part of it in a mix (``exam-day``)."""
    return plan.data if plan.profile == profile else plan.data[profile]
