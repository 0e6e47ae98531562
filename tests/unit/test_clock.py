"""The simulated business clock, through the control API and the clock service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from simulator.core import clock
from simulator.core.db import Database
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.tenancy import create_tenant
from tests.conftest import ADMIN

PROBLEM = "application/problem+json"
CLOCK_FIELDS = {
    "tenant",
    "now",
    "local_now",
    "timezone",
    "wall_now",
    "offset_seconds",
    "frozen",
    "jobs_run",
    "pending_jobs",
}


def parse(moment: str) -> dt.datetime:
    return dt.datetime.fromisoformat(moment)


def read_clock(console: Any, tenant: str = "acme", headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = console.get(f"/api/tenants/{tenant}/clock", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def post_clock(console: Any, action: str, tenant: str = "acme", **body: Any) -> Any:
    return console.post(f"/api/tenants/{tenant}/clock/{action}", json=body or None, headers=ADMIN)


def freeze(console: Any, tenant: str = "acme") -> dt.datetime:
    response = post_clock(console, "freeze", tenant)
    assert response.status_code == 200, response.get_json()
    return parse(response.get_json()["now"])


def advance(console: Any, tenant: str = "acme", **amount: Any) -> dict[str, Any]:
    response = post_clock(console, "advance", tenant, **amount)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    return body


def test_a_new_tenant_reads_real_time_in_its_zone(console: Any, make_tenant: Any) -> None:
    make_tenant("acme", settings={"timezone": "Asia/Kolkata"})
    before = clock.wall_now()
    body = read_clock(console)
    after = clock.wall_now()

    assert set(body) == CLOCK_FIELDS
    assert body["tenant"] == "acme"
    assert body["frozen"] is False
    assert body["offset_seconds"] == 0
    assert before <= parse(body["now"]) <= after
    assert body["timezone"] == "Asia/Kolkata"
    assert parse(body["local_now"]).utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert parse(body["local_now"]) == parse(body["now"])
    assert body["jobs_run"] == []


@pytest.mark.parametrize(
    ("amount", "delta"),
    [
        ({"seconds": 90}, dt.timedelta(seconds=90)),
        ({"minutes": 45}, dt.timedelta(minutes=45)),
        ({"hours": 5}, dt.timedelta(hours=5)),
        ({"days": 2}, dt.timedelta(days=2)),
        ({"days": 1, "hours": 2, "minutes": 3, "seconds": 4.5}, dt.timedelta(days=1, seconds=7384.5)),
    ],
)
def test_advance_moves_business_time_by_exactly_the_amount(
    console: Any, make_tenant: Any, amount: dict[str, float], delta: dt.timedelta
) -> None:
    make_tenant("acme")
    frozen_at = freeze(console)

    body = advance(console, **amount)

    assert parse(body["now"]) == frozen_at + delta
    assert parse(read_clock(console)["now"]) == frozen_at + delta


def test_advance_on_a_running_clock_adds_to_its_offset(console: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    advance(console, hours=1)
    body = advance(console, days=1)

    assert body["frozen"] is False
    assert body["offset_seconds"] == 25 * 3600
    ahead = parse(body["now"]) - parse(body["wall_now"])
    assert abs(ahead - dt.timedelta(hours=25)) < dt.timedelta(seconds=1)


def test_advance_until_a_moment_lands_on_it(console: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    target = (freeze(console) + dt.timedelta(days=3)).replace(microsecond=0)

    body = advance(console, until=target.isoformat())

    assert parse(body["now"]) == target


BAD_ADVANCES = {
    "negative": {"seconds": -1},
    "negative-days": {"days": -2},
    "partly-negative": {"hours": 1, "minutes": -30},
    "until-and-amount": {"days": 1, "until": "2099-01-01T00:00:00Z"},
    "naive-until": {"until": "2099-01-01T00:00:00"},
    "until-in-the-past": {"until": "2000-01-01T00:00:00Z"},
    "unknown-unit": {"weeks": 1},
    "text": {"days": "soon"},
}


@pytest.mark.parametrize("body", BAD_ADVANCES.values(), ids=BAD_ADVANCES.keys())
def test_bad_advances_are_refused_and_change_nothing(
    console: Any, make_tenant: Any, body: dict[str, Any]
) -> None:
    make_tenant("acme")
    frozen_at = freeze(console)

    problem = assert_problem(post_clock(console, "advance", **body), 422, "validation_failed")

    assert problem["detail"]
    assert parse(read_clock(console)["now"]) == frozen_at


def test_a_frozen_clock_stands_still_until_advanced_and_resumes_from_there(
    console: Any, make_tenant: Any
) -> None:
    make_tenant("acme")
    frozen_at = freeze(console)
    first, second = read_clock(console), read_clock(console)
    assert first["frozen"] is second["frozen"] is True
    assert parse(first["now"]) == parse(second["now"]) == frozen_at

    assert parse(advance(console, hours=6)["now"]) == frozen_at + dt.timedelta(hours=6)
    assert freeze(console) == frozen_at + dt.timedelta(hours=6), "freezing again keeps the moment"

    before = clock.wall_now()
    resumed = post_clock(console, "resume").get_json()
    after = clock.wall_now()
    assert resumed["frozen"] is False
    assert (
        frozen_at + dt.timedelta(hours=6)
        <= parse(resumed["now"])
        <= frozen_at + dt.timedelta(hours=6) + (after - before)
    )
    assert parse(read_clock(console)["now"]) >= parse(resumed["now"])


@pytest.mark.parametrize("action", ["GET clock", "advance", "freeze", "resume"])
def test_an_unknown_tenant_has_no_clock(console: Any, action: str) -> None:
    if action == "GET clock":
        response = console.get("/api/tenants/nope/clock", headers=ADMIN)
    else:
        response = post_clock(console, action, "nope", **({"hours": 1} if action == "advance" else {}))

    assert "nope" in assert_problem(response, 404, "tenant_not_found")["detail"]


def test_a_tenant_key_cannot_see_or_move_another_tenants_clock(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    make_tenant("other")
    other_frozen_at = freeze(console, "other")

    assert read_clock(console, "acme", acme.auth)["tenant"] == "acme"
    assert_problem(console.get("/api/tenants/other/clock", headers=acme.auth), 404, "tenant_not_found")
    moved = console.post("/api/tenants/other/clock/advance", json={"days": 1}, headers=acme.auth)
    assert_problem(moved, 404, "tenant_not_found")
    assert parse(read_clock(console, "other")["now"]) == other_frozen_at


def test_the_clock_needs_a_key(console: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    assert_problem(console.get("/api/tenants/acme/clock"), 401, "unauthorized")


# The clock service, without HTTP.


@pytest.fixture
def tenant_id(db: Database) -> str:
    with db.session() as session:
        create_tenant(session, "acme")
    return "acme"


def test_service_refuses_to_move_the_clock_backwards(db: Database, tenant_id: str) -> None:
    frozen_at = clock.freeze_clock(db, tenant_id).now

    with pytest.raises(ValidationFailed, match="only moves forward"):
        clock.advance_clock(db, tenant_id, dt.timedelta(seconds=-1))

    assert clock.read_clock(db, tenant_id).now == frozen_at


def test_service_reports_an_unknown_tenant(db: Database) -> None:
    with pytest.raises(NotFound, match="nope"):
        clock.read_clock(db, "nope")


def test_service_freeze_advance_resume(db: Database, tenant_id: str) -> None:
    frozen = clock.freeze_clock(db, tenant_id)
    assert frozen.frozen
    advanced = clock.advance_clock(db, tenant_id, dt.timedelta(days=10))
    assert advanced.now == frozen.now + dt.timedelta(days=10)

    before = clock.wall_now()
    resumed = clock.resume_clock(db, tenant_id)
    after = clock.wall_now()
    assert not resumed.frozen
    assert advanced.now <= resumed.now <= advanced.now + (after - before)
