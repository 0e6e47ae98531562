"""The writeback reconciliation names each way records go wrong — lost, duplicated, phantom, wrongly
rejected or wrongly stored — from the ledger and the stored records alone."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.cli import parse_duration
from loadtests.reconcile import judge_records


def stored(record_id: str, code: str, member: str = "M1") -> dict[str, Any]:
    return {
        "record_id": record_id,
        "destination": "ce_transcript",
        "member_id": member,
        "activity_code": code,
        "completed_on": "2026-03-01",
    }


def sent(outcome: str, **facts: Any) -> dict[str, Any]:
    return {"outcome": outcome, "invalid": False, **facts}


def test_an_honest_run_has_no_problems() -> None:
    section = judge_records(
        {"a": sent("accepted"), "b": sent("duplicate"), "c": sent("rejected", invalid=True)},
        [stored("a", "A"), stored("b", "B")],
        {},
        2.0,
    )

    assert section.passed
    values = {row.measure: row.value for row in section.rows}
    assert values["stored"] == 2 and values["lost"] == 0
    assert section.details["records_per_second"] == 1.0


@pytest.mark.parametrize(
    ("ledger", "records", "problem"),
    [
        ({"a": sent("accepted")}, [], "1 acknowledged records were not stored"),
        (
            {"a": sent("accepted")},
            [stored("a", "A"), stored("a", "A")],
            "2 extra copies of records were stored",  # the same id twice, and so the same natural key
        ),
        (
            {"a": sent("accepted")},
            [stored("a", "A"), stored("x", "X")],
            "1 records were stored that were never sent",
        ),
        ({"a": sent("rejected")}, [], "1 valid records were rejected"),
        (
            {"a": sent("accepted", invalid=True)},
            [stored("a", "A")],
            "1 records that should have been rejected were stored",
        ),
        (
            {"a": sent("accepted", resent_outcome="accepted")},
            [stored("a", "A")],
            "1 re-sent records were accepted a second time",
        ),
    ],
)
def test_each_defect_is_named(ledger: dict[str, Any], records: list[dict[str, Any]], problem: str) -> None:
    section = judge_records(ledger, records, {}, 1.0)

    assert section.problems == [problem]


def test_unconfirmed_records_are_counted_but_not_judged() -> None:
    ledger = {"a": sent("unconfirmed"), "b": sent("unconfirmed"), "c": sent("accepted")}
    section = judge_records(ledger, [stored("a", "A"), stored("c", "C")], {}, 1.0)

    assert section.passed
    row = next(row for row in section.rows if row.measure == "unconfirmed")
    assert (row.value, row.note) == (2, "no answer; 1 of them stored anyway")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2.5s", 2.5)]
)
def test_durations_read_like_locusts_run_time(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
