"""Comparing what a scenario says with what it observed: counts, values, and the mismatch lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from simulator.scenario import model as m

Check = tuple[list[str], dict[str, Any]]
"""(mismatch lines, what was observed) of one condition."""
FLOAT_TOLERANCE = 1e-6


def count_ok(spec: m.Count | None, value: int) -> bool:
    if spec is None:
        return True
    if isinstance(spec, int):
        return value == spec
    return (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)


def describe_count(spec: m.Count) -> str:
    if isinstance(spec, int):
        return str(spec)
    bounds = [
        f">= {spec.min}" if spec.min is not None else "",
        f"<= {spec.max}" if spec.max is not None else "",
    ]
    return " and ".join(b for b in bounds if b)


class Mismatches:
    """Collects 'what: expected X, observed Y' lines."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[str] = []

    def equal(self, what: str, expected: Any, observed: Any) -> None:
        if expected is not None and not same(expected, observed):
            self.lines.append(f"{self.prefix}.{what}: expected {expected!r}, observed {observed!r}")

    def count(self, what: str, spec: m.Count | None, observed: int) -> None:
        if not count_ok(spec, observed):
            self.lines.append(f"{self.prefix}.{what}: expected {describe_count(spec)}, observed {observed}")


def same(expected: Any, observed: Any) -> bool:
    if isinstance(expected, dt.date) and not isinstance(expected, dt.datetime):
        expected = expected.isoformat()  # an unquoted YAML date against an API's ISO date
    if (
        isinstance(expected, float | int)
        and isinstance(observed, float | int)
        and not isinstance(expected, bool)
    ):
        return abs(expected - observed) <= FLOAT_TOLERANCE
    if isinstance(expected, dict) and isinstance(observed, dict):
        return all(key in observed and same(value, observed[key]) for key, value in expected.items())
    return expected == observed
