"""Advancing the clock `until` a moment already past is refused, and the error names `until`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.test_clock import assert_problem, freeze, parse, post_clock, read_clock


@pytest.mark.parametrize("before", [dt.timedelta(seconds=1), dt.timedelta(days=400)])
def test_until_in_the_past_names_until_and_changes_nothing(
    console: Any, make_tenant: Any, before: dt.timedelta
) -> None:
    make_tenant("acme")
    frozen_at = freeze(console)

    response = post_clock(console, "advance", until=(frozen_at - before).isoformat())

    problem = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["until"]
    assert "'until'" in problem["detail"] and "seconds" not in problem["detail"]
    assert parse(read_clock(console)["now"]) == frozen_at


def test_until_now_is_accepted_and_moves_nothing(console: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    frozen_at = freeze(console)

    response = post_clock(console, "advance", until=frozen_at.isoformat())

    assert response.status_code == 200, response.get_json()
    assert parse(response.get_json()["now"]) == frozen_at
