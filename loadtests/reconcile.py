"""Reconciliation: what the load generator sent, set against what the sandbox's own records show.

A load test's numbers are only worth something with a verdict on the data. Each profile compares its
ledger (every record, completion, order or sign-in its users attempted, with the answer they got) with
what the sandbox stored, read back over its APIs once the run is over and in-flight deliveries drained:

- a **lost** item was acknowledged (or made) but is not stored;
- a **duplicated** item is stored more than once;
- a **phantom** is stored for this run but was never sent;
- **unconfirmed** items got no answer (the run ended mid-request, or retries ran out); they are counted,
  stored or not, but judged neither way — the sender knew it had no acknowledgement.

A :class:`Section` is one such comparison; a profile that mixes others (``exam-day``) returns one per
part. A section passes when it names no problem.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.scenario.client import TenantClient

OUTBOX_BUSY_STATES = ("pending", "in_flight", "retrying")
SAMPLE_SIZE = 10


@dataclass
class Row:
    measure: str
    value: int | float | str
    note: str = ""
    problem: bool = False


@dataclass
class Section:
    """One reconciliation table: its rows, and the problems (one sentence each) that fail the run."""

    title: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, measure: str, value: int | float | str, note: str = "", problem: str | None = None) -> None:
        """Add a row; when ``problem`` is given and the value is not zero, it is a problem of the run."""
        is_problem = problem is not None and bool(value)
        self.rows.append(Row(measure, value, note, is_problem))
        if is_problem:
            self.problems.append(problem.format(value=value))

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def sample(keys: Iterable[str]) -> list[str]:
    """A few keys to show (sorted, so two runs show comparable samples)."""
    return sorted(keys)[:SAMPLE_SIZE]


def wait_for_outbox(tenant: TenantClient, timeout: float, interval: float = 0.5) -> dict[str, int]:
    """Wait (at most ``timeout`` seconds) until no outbox message is pending, in flight or retrying; the
    counts per state at the end."""
    deadline = time.monotonic() + timeout
    while True:
        counts = tenant.outbox(limit=1)["counts"]
        if not any(counts.get(state) for state in OUTBOX_BUSY_STATES) or time.monotonic() > deadline:
            return counts
        time.sleep(interval)


def outbox_rows(section: Section, counts: Mapping[str, int], timeout: float) -> None:
    """The outbox's state after the drain wait: what never left is a problem."""
    busy = sum(counts.get(state, 0) for state in OUTBOX_BUSY_STATES)
    section.add("outbox delivered", counts.get("delivered", 0))
    section.add(
        "outbox still undelivered",
        busy,
        "pending, in flight or retrying",
        f"{{value}} outbox messages were still undelivered {timeout:.0f} s after the run",
    )
    section.add("outbox dead letters", counts.get("dead", 0), "", "{value} outbox messages went dead")


def writeback_ingest(tenant: TenantClient, ledger: Mapping[str, Any], run_id: str, seconds: float) -> Section:
    """Records the connectors sent to the inbox, against the records the AMS stored and the inbox log."""
    sent: Mapping[str, Mapping[str, Any]] = ledger.get("records", {})
    marker = f"LT{run_id}-"
    stored = [
        item
        for item in tenant.inbox_items("accepted")
        if item["record_id"] in sent or marker in (item.get("activity_code") or "")
    ]
    rejected_log = {
        item["record_id"]: item for item in tenant.inbox_items("rejected") if item["record_id"] in sent
    }
    return judge_records(sent, stored, rejected_log, seconds)


def judge_records(
    sent: Mapping[str, Mapping[str, Any]],
    stored: list[Mapping[str, Any]],
    rejected_log: Mapping[str, Mapping[str, Any]],
    seconds: float,
) -> Section:
    """The writeback-ingest verdict from the ledger (``sent``: record id → facts), the stored records of
    the run and the inbox's log of rejections."""
    section = Section("writeback")
    outcomes = Counter(facts.get("outcome", "unconfirmed") for facts in sent.values())
    stored_ids = Counter(item["record_id"] for item in stored)
    stored_keys = Counter(
        (item.get("destination"), item.get("member_id"), item.get("activity_code"), item.get("completed_on"))
        for item in stored
    )
    acknowledged = {rid for rid, facts in sent.items() if facts.get("outcome") in ("accepted", "duplicate")}
    lost = acknowledged - stored_ids.keys()
    phantoms = stored_ids.keys() - sent.keys()
    rejected = {rid for rid, facts in sent.items() if facts.get("outcome") == "rejected"}
    invalid = {rid for rid, facts in sent.items() if facts.get("invalid")}
    unconfirmed = {rid for rid, facts in sent.items() if facts.get("outcome") == "unconfirmed"}
    resent = {rid: facts for rid, facts in sent.items() if "resent_outcome" in facts}
    duplicated = sum(n - 1 for n in stored_ids.values() if n > 1) + sum(
        n - 1 for n in stored_keys.values() if n > 1
    )

    if not sum(outcomes[kind] for kind in ("accepted", "duplicate", "rejected")):
        section.problems.append("no delivery was answered during the run: the load never reached the inbox")
    section.add("sent", len(sent), "distinct records")
    section.add("answered accepted", outcomes["accepted"])
    section.add(
        "answered duplicate", outcomes["duplicate"], "stored by an earlier attempt whose answer was lost"
    )
    section.add("answered rejected", outcomes["rejected"], f"{len(invalid)} sent invalid on purpose")
    section.add(
        "unconfirmed",
        len(unconfirmed),
        f"no answer; {len(unconfirmed & stored_ids.keys())} of them stored anyway",
    )
    section.add(
        "stored",
        len(stored_ids),
        f"{len(stored_ids) / seconds:.1f} records/s over the run" if seconds else "",
    )
    section.add("lost", len(lost), "acknowledged, not stored", "{value} acknowledged records were not stored")
    section.add(
        "duplicated", duplicated, "extra copies stored", "{value} extra copies of records were stored"
    )
    section.add(
        "phantoms", len(phantoms), "stored, never sent", "{value} records were stored that were never sent"
    )
    section.add(
        "rejected though valid",
        len(rejected - invalid),
        "",
        "{value} valid records were rejected",
    )
    section.add(
        "invalid yet stored",
        len(invalid & stored_ids.keys()),
        "",
        "{value} records that should have been rejected were stored",
    )
    as_before = sum(
        1
        for facts in resent.values()
        if facts["resent_outcome"] == facts.get("outcome")
        or (facts["resent_outcome"] == "duplicate" and facts.get("outcome") == "accepted")
    )
    resent_fresh = [
        rid
        for rid, facts in resent.items()
        if facts["resent_outcome"] == "accepted" and facts.get("outcome") in ("accepted", "duplicate")
    ]
    section.add("re-sent", len(resent), f"{as_before} answered duplicate, or rejected again")
    section.add(
        "re-sent, accepted again",
        len(resent_fresh),
        "acknowledged the first time",
        "{value} re-sent records were accepted a second time",
    )
    reasons = Counter(
        (rejected_log.get(rid) or {}).get("reason") or facts.get("reason") or "no reason given"
        for rid, facts in sent.items()
        if rid in rejected
    )
    section.details = {
        "records_per_second": len(stored_ids) / seconds if seconds else 0.0,
        "rejected_reasons": dict(reasons.most_common()),
        "lost_sample": sample(lost),
        "phantom_sample": sample(phantoms),
        "unconfirmed_sample": sample(unconfirmed),
    }
    return section


def judged(sections: list[Section]) -> tuple[bool, list[str]]:
    """Whether every section passed, and every problem prefixed by its section."""
    problems = [f"{section.title}: {problem}" for section in sections for problem in section.problems]
    return not problems, problems


Reconciler = Callable[..., list[Section]]
