"""``exam-day``: sign-ins, completions written back, connectors posting records and purchases, in one
tenant at once, weighted.

Prepared: what each part's own prepare makes, side by side in the plan (each part reads its own), the
tenant set up for all of them (the immediate CE-credit rule of ``completion-storm``). Reconciled: each
part by its own rules, one table each — the learners and buyers a run creates have member ids of their
own kind, so that each part finds exactly its records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from loadtests.profile import Finished, Option, Profile
from loadtests.profiles import checkout, completion_storm, sso_storm, writeback_ingest
from loadtests.reconcile import Section
from simulator.scenario.client import TenantClient

PARTS = {
    "sso": sso_storm.PROFILE,
    "completion": completion_storm.PROFILE,
    "writeback": writeback_ingest.PROFILE,
    "checkout": checkout.PROFILE,
}
DEFAULT_WEIGHTS = "sso=4,completion=3,writeback=2,checkout=1"


def parse_weights(text: str) -> dict[str, int]:
    """``sso=4,completion=3,…`` → weights of every part (0 leaves one out); ``ValueError`` if bad."""
    weights = dict.fromkeys(PARTS, 0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in PARTS or not value.strip().isdigit():
            raise ValueError(
                f"--option weights takes NAME=N pairs of {', '.join(PARTS)} (e.g. {DEFAULT_WEIGHTS}), "
                f"not {item!r}."
            )
        weights[name] = int(value)
    if not any(weights.values()):
        raise ValueError("--option weights gives every part a weight of 0: nothing would run.")
    return weights


def prepare(tenant: TenantClient, options: Mapping[str, Any]) -> dict[str, Any]:
    weights = parse_weights(str(options["weights"]))
    data: dict[str, Any] = {"weights": weights}
    for part, profile in PARTS.items():
        part_options = profile.parse_options({}) | {
            name: value for name, value in options.items() if name in profile.options
        }
        data[profile.name] = profile.prepare(tenant, part_options) if weights[part] else {}
    return data


def judge(finished: Finished) -> list[Section]:
    sections: list[Section] = []
    weights = finished.plan.data["weights"]
    for part, profile in PARTS.items():
        if weights[part]:
            plan = dataclasses.replace(
                finished.plan, profile=profile.name, data=finished.plan.data[profile.name]
            )
            sections += profile.reconcile(dataclasses.replace(finished, plan=plan))
    return sections


PROFILE = Profile(
    name="exam-day",
    summary="A weighted mix of sign-ins, completions written back, connectors and purchases, at once.",
    locustfile="exam_day.py",
    prepare=prepare,
    reconcile=judge,
    members=max(part.members for part in PARTS.values()),
    settings=completion_storm.PROFILE.settings,
    options={
        "weights": Option(
            DEFAULT_WEIGHTS, "how the users are shared out: sso, completion, writeback, checkout"
        ),
        "protocol": sso_storm.PROFILE.options["protocol"],
    },
)
