"""Fault rules without HTTP: validation, matching, the seeded draw and the shared counters."""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import pytest

from simulator.core import faults
from simulator.core.db import Database
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.faults import FaultRuleSpec, decide_fault, draw, parse_rule, should_fire
from simulator.core.middleware import split_tenant_path
from simulator.core.tenancy import create_tenant


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def tenants(db: Database) -> Database:
    with db.session() as session:
        create_tenant(session, "acme")
        create_tenant(session, "other")
    return db


def spec(**fields: Any) -> FaultRuleSpec:
    return FaultRuleSpec.model_validate(fields)


# --- validation ----------------------------------------------------------------------------------------


def test_a_status_alone_is_a_complete_rule() -> None:
    rule = spec(status=503)

    assert rule.effective_kind == "respond"
    assert (rule.app, rule.method, rule.path, rule.probability, rule.seed) == (None, None, "*", 1.0, 0)
    assert rule.content_type == "application/json"


def test_method_is_normalised_to_upper_case() -> None:
    assert spec(status=500, method="post").method == "POST"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"status": 600}, "status", "less than or equal"),
        ({"status": 500, "path": "api/x"}, "path", "start with '/'"),
        ({"status": 500, "method": "GET /"}, "method", "HTTP method"),
        ({"status": 500, "app": "crm"}, "app", "'ams' or 'lms'"),
        ({"status": 500, "first_n": 0}, "first_n", "greater than or equal"),
        ({"delay": {"fixed_ms": 61_000}}, "delay", "60000"),
        ({"delay": {"lognormal": {"median_ms": 10}}}, "delay.lognormal.sigma", "required"),
        ({"delay": {"fixed_ms": 1, "lognormal": {"median_ms": 1, "sigma": 1}}}, "delay", "exactly one"),
        ({"path": "/x"}, "(body)", "needs an effect"),
        ({"kind": "respond"}, "(body)", "needs a 'status'"),
        ({"kind": "connection_reset", "status": 500}, "(body)", "no response"),
        ({"kind": "malformed_body", "body": "{}"}, "(body)", "own body"),
        ({"delay": {"fixed_ms": 5}, "retry_after": 3}, "(body)", "need a 'status'"),
        ({"status": 500, "first_n": 1, "every_nth": 2}, "(body)", "not both"),
        ({"status": 500, "headers": {"Bad Name": "x"}}, "headers", "header"),
    ],
)
def test_invalid_rules_name_the_problem(fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_rule(fields)

    assert error.value.http_status == 422
    assert error.value.errors[0]["field"].startswith(field)
    assert any(words in e["message"] for e in error.value.errors), error.value.errors


def test_field_prefix_locates_the_rule_in_a_list() -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_rule({"status": 1}, field_prefix="rules.4")

    assert error.value.errors[0]["field"] == "rules.4.status"


# --- matching ------------------------------------------------------------------------------------------


def test_matching_on_app_method_and_path_glob() -> None:
    rule = spec(status=500, app="ams", method="POST", path="/writeback/*")

    assert rule.matches("ams", "post", "/writeback/records")
    assert not rule.matches("lms", "POST", "/writeback/records")
    assert not rule.matches("ams", "GET", "/writeback/records")
    assert not rule.matches("ams", "POST", "/api/writeback/records")
    assert spec(status=500).matches("lms", "DELETE", "/anything/at/all")


@pytest.mark.parametrize(
    ("path_info", "expected"),
    [
        ("/t/acme/api/members", ("acme", "/api/members")),
        ("/t/acme", ("acme", "/")),
        ("/t/acme/", ("acme", "/")),
        ("/healthz", None),
        ("/t/Not_A_Tenant/x", None),
        ("/tenant/acme", None),
    ],
)
def test_tenant_and_path_are_taken_from_the_url(path_info: str, expected: Any) -> None:
    assert split_tenant_path(path_info) == expected


# --- the draw ------------------------------------------------------------------------------------------


def test_the_draw_depends_only_on_seed_position_and_count() -> None:
    rule = spec(status=500, probability=0.5, seed=9, delay={"lognormal": {"median_ms": 20, "sigma": 0.5}})

    first = [draw(rule, 2, n) for n in range(1, 101)]
    again = [draw(rule, 2, n) for n in range(1, 101)]
    other_seed = [draw(rule.model_copy(update={"seed": 10}), 2, n) for n in range(1, 101)]

    assert first == again
    assert first != other_seed
    assert 30 <= sum(fired for fired, _ in first) <= 70


def test_probability_zero_never_fires_and_one_always_fires() -> None:
    rng = random.Random(1)

    assert not any(should_fire(spec(status=500, probability=0), n, rng) for n in range(1, 200))
    assert all(should_fire(spec(status=500, probability=1), n, rng) for n in range(1, 200))


def test_first_n_and_every_nth_counts() -> None:
    rng = random.Random(1)

    assert [should_fire(spec(status=500, first_n=2), n, rng) for n in range(1, 6)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [n for n in range(1, 10) if should_fire(spec(status=500, every_nth=4), n, rng)] == [4, 8]


def test_lognormal_delay_follows_median_times_exp_sigma_z() -> None:
    rule = spec(delay={"lognormal": {"median_ms": 100, "sigma": 0.8}})
    delays = sorted(draw(rule, 0, n)[1] for n in range(1, 2001))

    assert draw(spec(delay={"lognormal": {"median_ms": 100, "sigma": 0}}), 0, 1) == (True, 100.0)
    assert 85 <= delays[1000] <= 115  # the median
    expected_p90 = 100 * math.exp(0.8 * 1.2816)
    assert expected_p90 * 0.85 <= delays[1800] <= expected_p90 * 1.15


def test_delays_are_capped_at_sixty_seconds() -> None:
    rule = spec(delay={"lognormal": {"median_ms": 50_000, "sigma": 5}})

    assert max(draw(rule, 0, n)[1] for n in range(1, 200)) == 60_000.0


# --- stored rules and shared counters (SQLite and PostgreSQL) --------------------------------------------


def counters(db: Database, tenant_id: str) -> list[tuple[int, int]]:
    return [(r["matched_count"], r["fired_count"]) for r in faults.list_rules(db, tenant_id)]


def test_counters_live_in_the_database_and_are_shared_between_processes(
    tenants: Database, config: Any
) -> None:
    faults.replace_rules(tenants, "acme", [{"path": "/x", "status": 503, "first_n": 3}])
    second_process = Database(config.resolved_database_url)
    try:
        fired = [
            decide_fault(db, "acme", "ams", "GET", "/x") is not None for db in [tenants, second_process] * 3
        ]
    finally:
        second_process.dispose()

    assert fired == [True, True, True, False, False, False]
    assert counters(tenants, "acme") == [(6, 3)]


def test_concurrent_requests_each_get_their_own_count(tenants: Database) -> None:
    faults.replace_rules(tenants, "acme", [{"status": 503, "every_nth": 5}])
    match_numbers: list[int] = []

    def serve_ten() -> None:
        for _ in range(10):
            fault = decide_fault(tenants, "acme", "lms", "GET", "/x")
            if fault is not None:
                match_numbers.append(fault.n)

    threads = [threading.Thread(target=serve_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(match_numbers) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert counters(tenants, "acme") == [(40, 8)]


def test_first_matching_rule_that_fires_wins(tenants: Database) -> None:
    faults.replace_rules(
        tenants,
        "acme",
        [
            {"path": "/other", "status": 400},
            {"status": 500, "every_nth": 2, "name": "every other"},
            {"status": 503, "name": "fallback"},
        ],
    )

    names = [decide_fault(tenants, "acme", "ams", "GET", "/x").spec.name for _ in range(4)]

    assert names == ["fallback", "every other", "fallback", "every other"]
    assert counters(tenants, "acme") == [(0, 0), (4, 2), (2, 2)]


def test_replacing_validates_every_rule_before_writing(tenants: Database) -> None:
    kept = faults.replace_rules(tenants, "acme", [{"status": 500}])

    with pytest.raises(ValidationFailed) as error:
        faults.replace_rules(tenants, "acme", [{"status": 502}, {"status": 502, "probability": -1}])

    assert error.value.errors[0]["field"] == "rules.1.probability"
    assert faults.list_rules(tenants, "acme") == kept


def test_rules_belong_to_one_tenant(tenants: Database) -> None:
    [rule] = faults.replace_rules(tenants, "acme", [{"status": 500}])

    assert decide_fault(tenants, "other", "ams", "GET", "/x") is None
    with pytest.raises(NotFound):
        faults.delete_rule(tenants, "other", rule["id"])
    assert faults.clear_rules(tenants, "other") == 0
    assert len(faults.list_rules(tenants, "acme")) == 1


def test_append_and_clear(tenants: Database) -> None:
    faults.append_rule(tenants, "acme", {"status": 500, "path": "/a"})
    appended = faults.append_rule(tenants, "acme", {"status": 502, "path": "/b"})

    assert appended["position"] == 1
    assert decide_fault(tenants, "acme", "ams", "GET", "/b").status == 502
    assert faults.clear_rules(tenants, "acme") == 2
    assert decide_fault(tenants, "acme", "ams", "GET", "/b") is None


def test_fired_fault_describes_itself(tenants: Database) -> None:
    faults.replace_rules(
        tenants,
        "acme",
        [{"name": "inbox down", "status": 503, "delay": {"fixed_ms": 120}, "retry_after": 30}],
    )

    fault = decide_fault(tenants, "acme", "ams", "POST", "/writeback/records")

    assert fault is not None
    assert fault.describe() == {
        "rule_id": fault.rule_id,
        "name": "inbox down",
        "kind": "respond",
        "effect": "delay 120 ms, then status 503",
        "delay_ms": 120.0,
        "match_number": 1,
    }
    status, headers, body = fault.response_parts()
    assert (status, body) == (503, b"")
    assert ("Retry-After", "30") in headers
