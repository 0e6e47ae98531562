"""LMS activity → outbox → signed HTTP → AMS inbox: immediate and batch modes, retries, 410, dead letters.

Real HTTP between real LMS and AMS servers; deliveries run when the tenant's business clock advances (as
`POST /clock/advance` does) or in a real worker pass.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.wrappers import Request, Response

from simulator.cli import main
from simulator.core.webhooks import verify
from simulator.scenario.target import free_ports
from simulator.worker import run_worker_pass
from tests.conftest import ADMIN
from tests.writeback.conftest import World, serve

REAL_TIME_RETRY = {"schedule_seconds": [0, 5, 300, 1800, 7200], "time_scale": 1.0, "jitter": 0.0}


class Receiver:
    """A tiny external HTTP receiver that keeps what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.port = free_ports(1)[0]
        self.server = serve(self.app, self.port)

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.requests.append((dict(request.headers), request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    receiver = Receiver()
    yield receiver
    receiver.close()


def add_fault(world: World, **rule: Any) -> None:
    rule = {"app": "ams", "method": "POST", "path": "/writeback/records", **rule}
    response = world.console.post(f"/api/tenants/{world.tenant}/faults", json=rule, headers=ADMIN)
    assert response.status_code == 201, response.get_json()


def outbox(world: World, **query: Any) -> dict[str, Any]:
    return world.console.get(
        f"/api/tenants/{world.tenant}/outbox", query_string=query, headers=ADMIN
    ).get_json()


def test_a_passed_course_reaches_the_transcript_and_activity_history_immediately(world: World) -> None:
    member = world.member_ids(1)[0]
    with world.lms() as lms:
        result = world.enroll_and_complete(lms, member, "ETH-101", 91)
    assert result["triggers"] == [
        "course.completed",
        "course.passed",
        "certificate.issued",
        "credits.awarded",
    ]
    assert world.stored_records() == 0  # queued, not yet sent

    ran = world.advance(seconds=1)["jobs_run"]

    assert any(job["kind"] == "outbox.delivery" for job in ran)
    with world.ams() as ams:
        transcript = ams.get(f"/api/members/{member}/transcript").json()
    assert [(r["activity_code"], r["credits"], r["credit_type"]) for r in transcript["records"]] == [
        ("ETH-101", 2.0, "CLE")
    ]
    assert transcript["records"][0]["certificate_number"] == result["certificate_number"]
    assert [r["activity_code"] for r in transcript["activity"]] == ["ETH-101"]
    assert outbox(world)["counts"] == {"delivered": 2}


def test_a_real_worker_pass_delivers_and_webinars_below_the_threshold_earn_nothing(world: World) -> None:
    present, absent = world.member_ids(2)
    with world.lms() as lms:
        for member, minutes in ((present, 55), (absent, 20)):
            enrollment = lms.post(
                "/api/enrollments", json={"member_id": member, "course_code": "CME-W05"}
            ).json()
            lms.post(
                f"/api/enrollments/{enrollment['id']}/attend", json={"minutes": minutes}
            ).raise_for_status()

    assert run_worker_pass(world.db) >= 1

    assert world.stored_records() == 1
    with world.ams() as ams:
        assert ams.get(f"/api/members/{present}/transcript").json()["totals"]["by_credit_type"] == {
            "CME": 1.0
        }
        assert ams.get(f"/api/members/{absent}/transcript").json()["records"] == []


@pytest.mark.parametrize("world_settings", [{"retry": REAL_TIME_RETRY}])
def test_an_ams_outage_for_an_hour_of_simulated_time_is_retried_on_schedule(world: World) -> None:
    add_fault(world, name="inbox down", status=503)
    member = world.member_ids(1)[0]
    with world.lms() as lms:
        world.enroll_and_complete(lms, member, "CLE-204", 80)

    world.advance(hours=1)

    listing = outbox(world, state="retrying")
    assert listing["counts"] == {"retrying": 2}
    assert {item["attempts"] for item in listing["items"]} == {4}  # at 0 s, 5 s, 5 min 5 s, 35 min 5 s
    detail = world.console.get(
        f"/api/tenants/{world.tenant}/outbox/{listing['items'][0]['id']}", headers=ADMIN
    ).get_json()
    assert [a["status"] for a in detail["attempts"]] == [503] * 4
    assert world.stored_records() == 0

    world.console.delete(f"/api/tenants/{world.tenant}/faults", headers=ADMIN)
    world.advance(hours=2)

    assert outbox(world)["counts"] == {"delivered": 2}
    assert world.stored_records() == 2


@pytest.mark.parametrize("world_settings", [{"retry": REAL_TIME_RETRY}])
def test_retry_after_is_honoured_when_it_asks_for_longer(world: World) -> None:
    add_fault(world, status=503, retry_after=600, first_n=1)
    with world.lms() as lms:
        world.enroll_and_complete(lms, world.member_ids(1)[0], "CME-230", 90)

    world.advance(seconds=60)

    waiting = outbox(world, state="retrying")["items"]
    assert len(waiting) == 1
    world.advance(seconds=500)
    assert outbox(world, state="retrying")["counts"].get("retrying") == 1
    world.advance(seconds=100)
    assert outbox(world)["counts"] == {"delivered": 2}


def test_410_disables_the_endpoint_holds_messages_until_it_is_enabled(world: World) -> None:
    add_fault(world, status=410, first_n=1)
    with world.lms() as lms:
        world.enroll_and_complete(lms, world.member_ids(1)[0], "ETH-101", 75)

    world.advance(minutes=30)

    endpoints = world.console.get(f"/api/tenants/{world.tenant}/endpoints", headers=ADMIN).get_json()
    ams_endpoint = next(e for e in endpoints["endpoints"] if e["name"] == "ams-writeback")
    assert not ams_endpoint["enabled"] and "410" in ams_endpoint["disabled_reason"]
    waiting = [item for item in outbox(world)["items"] if item["state"] != "delivered"]
    assert waiting and all(item["held"] and item["state"] == "pending" for item in waiting)
    assert world.stored_records() == 2 - len(waiting)  # one may have been in flight beside the 410

    enabled = world.console.post(f"/api/tenants/{world.tenant}/endpoints/ams-writeback/enable", headers=ADMIN)
    assert enabled.status_code == 200
    world.advance(seconds=1)
    assert world.stored_records() == 2


def test_dead_letters_after_the_last_retry_are_replayed_by_api_and_cli(world: World) -> None:
    add_fault(world, name="broken", status=500)
    with world.lms() as lms:
        world.enroll_and_complete(lms, world.member_ids(1)[0], "ETH-101", 99)
    world.advance(seconds=5)
    dead = outbox(world, state="dead")
    assert dead["counts"] == {"dead": 2}
    assert {item["attempts"] for item in dead["items"]} == {5}

    world.console.delete(f"/api/tenants/{world.tenant}/faults", headers=ADMIN)
    one = world.console.post(
        f"/api/tenants/{world.tenant}/outbox/{dead['items'][0]['id']}/replay", headers=ADMIN
    )
    assert one.get_json() == {"replayed": 1}
    world.advance(seconds=1)
    assert outbox(world)["counts"] == {"delivered": 1, "dead": 1}

    flags = ["--database-url", world.db.url, "--data-dir", str(world.config.data_dir)]  # its secret key
    listed = CliRunner().invoke(main, ["outbox", "list", "--tenant", world.tenant, "--state", "dead", *flags])
    assert listed.exit_code == 0, listed.output
    assert "dead: 1" in listed.output
    replayed = CliRunner().invoke(main, ["outbox", "replay", "--tenant", world.tenant, "--all-dead", *flags])
    assert replayed.exit_code == 0 and "Replayed 1 message" in replayed.output
    world.advance(seconds=1)
    assert outbox(world)["counts"] == {"delivered": 2}
    assert world.stored_records() == 2


BATCH_RULE = {
    "name": "nightly-credits",
    "trigger": "credits.awarded",
    "value_format": "ce_credit",
    "destination": "ce_transcript",
    "mode": "batch",
    "schedule": {"every": "nightly", "at": "02:00"},
}


@pytest.mark.parametrize(
    "world_settings",
    [{"retry": {"time_scale": 0.0001}, "writeback": {"rules": [BATCH_RULE], "batch_max_size": 3}}],
)
def test_batch_mode_holds_records_until_the_nightly_window_then_sends_bulk_requests(world: World) -> None:
    members = world.member_ids(7)
    with world.lms() as lms:
        for member in members:
            world.enroll_and_complete(lms, member, "CPE-110", 85)
    world.advance(minutes=1)
    assert world.stored_records() == 0 and outbox(world)["counts"] == {}

    world.advance(days=1)

    assert world.stored_records() == 7
    items = outbox(world)["items"]
    assert [item["topic"] for item in items] == ["writeback.batch"] * 3
    sizes = []
    for item in items:
        detail = world.console.get(
            f"/api/tenants/{world.tenant}/outbox/{item['id']}", headers=ADMIN
        ).get_json()
        sizes.append(len(detail["payload"]["records"]))
    assert sizes == [3, 3, 1]
    journal = world.console.get(
        f"/api/tenants/{world.tenant}/journal", query_string={"path": "*/writeback/records"}, headers=ADMIN
    ).get_json()
    assert [entry["status"] for entry in journal["entries"]] == [200, 200, 200]


XAPI_RULE = {
    "name": "xapi",
    "trigger": "course.passed",
    "value_format": "xapi",
    "destination": "activity_history",
}


@pytest.mark.parametrize("world_settings", [{"retry": {"time_scale": 0.0001}}])
def test_the_lms_can_write_back_to_an_external_receiver_with_valid_signatures(
    world: World, receiver: Receiver
) -> None:
    secret = "whsec_" + "c2FuZGJveC1leHRlcm5hbC1zZWNyZXQtMTIzNDU2Nzg="
    world.patch_settings(
        {"writeback": {"rules": [XAPI_RULE], "external_endpoint": {"url": receiver.url, "secret": secret}}}
    )
    with world.lms() as lms:
        world.enroll_and_complete(lms, world.member_ids(1)[0], "ETH-101", 88)

    world.advance(seconds=1)

    assert len(receiver.requests) == 1 and world.stored_records() == 0
    headers, body = receiver.requests[0]
    assert verify(secret, headers, body) == headers["Webhook-Id"]
    assert headers["Idempotency-Key"] == headers["Webhook-Id"]
    envelope = json.loads(body)
    assert envelope["id"] == headers["Webhook-Id"] and envelope["format"] == "xapi"
    assert envelope["record"]["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed"


def test_recorded_credits_are_sent_on_to_subscribers_as_credit_recorded(
    world: World, receiver: Receiver
) -> None:
    response = world.console.post(
        f"/api/tenants/{world.tenant}/endpoints",
        json={"name": "crm", "url": receiver.url, "topics": ["credit.recorded"]},
        headers=ADMIN,
    )
    assert response.status_code == 201
    secret = response.get_json()["secret"]
    member = world.member_ids(1)[0]
    with world.lms() as lms:
        world.enroll_and_complete(lms, member, "CPE-215", 95)

    world.advance(seconds=1)

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    verify(secret, headers, body)
    event = json.loads(body)
    assert event["type"] == "credit.recorded"
    assert event["data"] | {"record_id": None} == {
        "record_id": None,
        "member_id": member,
        "activity_code": "CPE-215",
        "activity_title": "Fraud Detection for Auditors",
        "credit_type": "CPE",
        "credits": 8.0,
        "completed_on": event["data"]["completed_on"],
    }
