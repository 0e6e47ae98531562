"""The AMS writeback inbox: signatures, validation, dedupe, per-record results, transcripts, isolation."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.webhooks import new_secret, sign_headers
from tests.conftest import ADMIN
from tests.writeback.conftest import World


def inbox_secret(world: World) -> str:
    with world.db.read() as session:
        return session.scalar(
            select(WebhookEndpoint.secret).where(
                WebhookEndpoint.tenant_id == world.tenant, WebhookEndpoint.name == "ams-writeback"
            )
        )


def envelope(record_id: str, member_id: str, **record: Any) -> dict[str, Any]:
    fields = {
        "member_id": member_id,
        "activity_code": "ETH-101",
        "activity_title": "Professional Ethics in Practice",
        "credit_type": "CLE",
        "credits": 2.0,
        "completion_date": "2026-03-01",
    }
    fields.update(record)
    return {
        "id": record_id,
        "rule": "ce-credits",
        "trigger": "credits.awarded",
        "destination": "ce_transcript",
        "format": "ce_credit",
        "member_id": member_id,
        "occurred_at": "2026-03-01T15:00:00+00:00",
        "record": fields,
    }


def post(
    world: World,
    document: Any,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    tenant: str | None = None,
) -> httpx.Response:
    body = json.dumps(document).encode()
    message_id = document.get("id", "bulk_1") if isinstance(document, dict) else "x"
    headers = sign_headers(secret or inbox_secret(world), message_id, body, timestamp)
    url = f"{world.config.ams_url}/t/{tenant or world.tenant}/writeback/records"
    return httpx.post(url, content=body, headers={**headers, "Content-Type": "application/json"}, timeout=30)


def inbox(world: World, result: str) -> dict[str, Any]:
    with world.ams() as ams:
        return ams.get("/api/writeback/inbox", params={"result": result}).json()


def test_a_valid_single_record_is_accepted_then_a_retry_is_a_duplicate(world: World) -> None:
    member = world.member_ids(1)[0]
    first = post(world, envelope("wb_1", member))
    again = post(world, envelope("wb_1", member))

    assert (first.status_code, first.json()["result"]) == (201, "accepted")
    assert (again.status_code, again.json()) == (
        200,
        {"id": "wb_1", "result": "duplicate", "reason": "duplicate_id"},
    )
    assert world.stored_records() == 1


def test_the_same_completion_under_a_new_id_is_a_duplicate_by_natural_key(world: World) -> None:
    member = world.member_ids(1)[0]
    post(world, envelope("wb_1", member))

    copy = post(world, envelope("wb_other", member))

    assert copy.status_code == 200
    assert copy.json()["reason"].startswith("duplicate_natural_key")
    assert world.stored_records() == 1


@pytest.mark.parametrize(
    ("secret", "age", "code"),
    [("wrong", 0, "bad_signature"), (None, 600, "stale_timestamp"), (None, -600, "stale_timestamp")],
)
def test_bad_signatures_and_stale_timestamps_get_401_and_store_nothing(
    world: World, secret: str | None, age: int, code: str
) -> None:
    member = world.member_ids(1)[0]
    response = post(
        world,
        envelope("wb_1", member),
        secret=new_secret() if secret else None,
        timestamp=int(time.time()) - age,
    )

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert world.stored_records() == 0
    assert inbox(world, "rejected")["items"][0]["reason"].startswith(code)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"credit_type": "XYZ"}, "unknown_credit_type"),
        ({"credit_type": None}, "missing_field"),
        ({"credits": 0}, "invalid_credits"),
        ({"completion_date": None}, "missing_field"),
        ({"credits": "two"}, "invalid_field"),
        ({"completion_date": "yesterday"}, "invalid_field"),
        ({"activity_code": None}, "missing_field"),
        ({"member_id": "M999999"}, "unknown_member"),
    ],
)
def test_invalid_single_records_are_rejected_with_422_and_a_reason(
    world: World, change: dict[str, Any], reason: str
) -> None:
    member = change.pop("member_id", None) or world.member_ids(1)[0]
    document = envelope("wb_bad", member, **change)

    response = post(world, document)

    assert response.status_code == 422
    assert response.json()["code"] == "record_rejected"
    assert reason in response.json()["detail"]
    listed = inbox(world, "rejected")
    assert listed["counts"]["rejected"] == 1
    assert listed["items"][0]["reason"].startswith(reason)


def test_a_bulk_delivery_answers_per_record_and_bad_records_block_nothing(world: World) -> None:
    members = world.member_ids(3)
    post(world, envelope("wb_old", members[0]))
    records = [
        envelope("wb_unknown", "M999999"),
        envelope("wb_a", members[0], activity_code="CLE-204"),
        envelope("wb_old", members[0]),
        envelope("wb_type", members[1], credit_type="ABC"),
        envelope("wb_b", members[1]),
        envelope("wb_b", members[1]),
        envelope("wb_c", members[2], credit_type="CPE", credits=4),
        "not an object",
    ]

    response = post(world, {"records": records})

    assert response.status_code == 200
    body = response.json()
    assert [r["result"] for r in body["results"]] == [
        "rejected",
        "accepted",
        "duplicate",
        "rejected",
        "accepted",
        "duplicate",
        "accepted",
        "rejected",
    ]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 2, 3)
    assert world.stored_records() == 4
    counts = inbox(world, "rejected")["counts"]
    assert counts == {"accepted": 4, "duplicate": 2, "rejected": 3}


def test_a_bulk_delivery_above_the_batch_size_is_refused_whole(world: World) -> None:
    world.patch_settings({"writeback": {"batch_max_size": 2}})
    member = world.member_ids(1)[0]

    response = post(
        world, {"records": [envelope(f"wb_{n}", member, activity_code=f"A{n}") for n in range(3)]}
    )

    assert response.status_code == 413
    assert world.stored_records() == 0


def test_the_transcript_totals_per_credit_type_and_year_and_exports_csv(world: World) -> None:
    member = world.member_ids(1)[0]
    post(
        world,
        {
            "records": [
                envelope("wb_1", member, activity_code="ETH-101", credits=2.0, completion_date="2025-12-31"),
                envelope("wb_2", member, activity_code="CLE-204", credits=3.0, completion_date="2026-01-02"),
                envelope(
                    "wb_3",
                    member,
                    activity_code="CPE-110",
                    credit_type="CPE",
                    credits=4.0,
                    completion_date="2026-02-01",
                ),
            ]
        },
    )

    with world.ams() as ams:
        transcript = ams.get(f"/api/members/{member}/transcript").json()
        exported = ams.get(f"/api/members/{member}/transcript.csv")

    assert [r["activity_code"] for r in transcript["records"]] == ["ETH-101", "CLE-204", "CPE-110"]
    assert transcript["totals"] == {
        "by_credit_type": {"CLE": 5.0, "CPE": 4.0},
        "by_year": {"2025": {"CLE": 2.0}, "2026": {"CLE": 3.0, "CPE": 4.0}},
    }
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["activity_code"], r["credits"]) for r in rows] == [
        ("ETH-101", "2.0"),
        ("CLE-204", "3.0"),
        ("CPE-110", "4.0"),
    ]


def test_profile_field_badge_destinations_and_segment_actions(world: World) -> None:
    member = world.member_ids(1)[0]
    world.patch_settings(
        {
            "writeback": {
                "ams_actions": [{"activity_code": "*-W*", "segment": "webinar-{activity_code}-attendees"}]
            }
        }
    )
    profile = {**envelope("wb_p", member), "destination": "profile_field"}
    profile["record"].update(field="last_course", value="ETH-101")
    badge = {**envelope("wb_b", member), "destination": "badge"}
    webinar = envelope("wb_w", member, activity_code="CME-W05", credit_type="CME", credits=1.0)

    body = post(world, {"records": [profile, badge, webinar]}).json()

    assert body["accepted"] == 3
    with world.ams() as ams:
        assert ams.get(f"/api/members/{member}").json()["profile"]["last_course"] == "ETH-101"
        transcript = ams.get(f"/api/members/{member}/transcript").json()
    assert transcript["badges"] == ["completed-ETH-101"]
    assert transcript["segments"] == ["webinar-CME-W05-attendees"]


def test_inbox_transcript_and_outbox_apis_are_tenant_isolated(world: World) -> None:
    other = world.console.post("/api/tenants", json={"id": "other", "members": 3}, headers=ADMIN).get_json()
    member = world.member_ids(1)[0]
    post(world, envelope("wb_1", member))
    other_auth = {"Authorization": f"Bearer {other['api_key']}"}

    with httpx.Client(base_url=world.config.ams_url, headers=other_auth) as ams:
        assert ams.get(f"/t/{world.tenant}/api/writeback/inbox").status_code == 404
        assert ams.get(f"/t/{world.tenant}/api/members/{member}/transcript").status_code == 404
        own = ams.get(f"/t/other/api/members/{member}/transcript")  # same member id, other world
        assert own.status_code in (200, 404) and own.json().get("records", []) == []
        assert ams.get("/t/other/api/writeback/inbox", params={"result": "accepted"}).json()["items"] == []
    assert world.console.get(f"/api/tenants/{world.tenant}/outbox", headers=other_auth).status_code == 404
    signed_for_acme = post(world, envelope("wb_2", member), tenant="other")
    assert signed_for_acme.status_code == 401  # acme's secret means nothing to tenant 'other'
