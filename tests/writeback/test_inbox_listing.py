"""Listing the AMS writeback inbox (`GET /t/{t}/api/writeback/inbox`): without `result`, every item it
received, in order; with `result`, one kind, paged by `since`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from simulator.core.db import Database
from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.webhooks import sign_headers
from tests.conftest import TenantHandle
from tests.writeback.test_writeback_inbox import envelope


@pytest.fixture
def acme(make_tenant: Any) -> TenantHandle:
    return make_tenant("acme")


def deliver(ams: Any, db: Database, document: dict[str, Any]) -> int:
    """POST one envelope to the inbox, signed as the tenant's LMS signs it; returns the status."""
    with db.read() as session:
        secret = session.scalar(
            select(WebhookEndpoint.secret).where(
                WebhookEndpoint.tenant_id == "acme", WebhookEndpoint.name == "ams-writeback"
            )
        )
    body = json.dumps(document).encode()
    headers = sign_headers(secret, document["id"], body)
    return ams.post(
        "/t/acme/writeback/records", data=body, headers=headers, content_type="application/json"
    ).status_code


@pytest.fixture
def received(ams: Any, db: Database, acme: TenantHandle) -> list[str]:
    """Two accepted records, a duplicate and a rejection, in that order; returns their record ids."""
    member = ams.get("/t/acme/api/members?email=active.member@demo.test", headers=acme.auth).get_json()
    member_id = member["members"][0]["member_id"]
    statuses = [
        deliver(ams, db, envelope("wb_1", member_id)),
        deliver(ams, db, envelope("wb_2", member_id, activity_code="CLE-204")),
        deliver(ams, db, envelope("wb_1", member_id)),
        deliver(ams, db, envelope("wb_3", "M999999")),
    ]
    assert statuses == [201, 201, 200, 422]
    return ["wb_1", "wb_2", "wb_1", "wb_3"]


def inbox(ams: Any, tenant: TenantHandle, **params: Any) -> Any:
    return ams.get("/t/acme/api/writeback/inbox", query_string=params, headers=tenant.auth)


def test_without_a_filter_the_inbox_lists_every_item_in_the_order_received(
    ams: Any, acme: TenantHandle, received: list[str]
) -> None:
    listing = inbox(ams, acme).get_json()

    assert listing["counts"] == {"accepted": 2, "duplicate": 1, "rejected": 1}
    assert [(item["result"], item["record_id"]) for item in listing["items"]] == [
        ("accepted", "wb_1"),
        ("accepted", "wb_2"),
        ("duplicate", "wb_1"),
        ("rejected", "wb_3"),
    ]
    assert listing["next_since"] is None
    assert [item["result"] for item in inbox(ams, acme, limit=3).get_json()["items"]] == [
        "accepted",
        "accepted",
        "duplicate",
    ]


def test_a_filter_lists_one_kind_and_pages_it(ams: Any, acme: TenantHandle, received: list[str]) -> None:
    accepted = inbox(ams, acme, result="accepted", limit=1).get_json()
    rest = inbox(ams, acme, result="accepted", since=accepted["next_since"]).get_json()
    rejected = inbox(ams, acme, result="rejected").get_json()

    assert [item["record_id"] for item in accepted["items"] + rest["items"]] == ["wb_1", "wb_2"]
    assert [item["record_id"] for item in rejected["items"]] == ["wb_3"]
    assert rejected["items"][0]["reason"].startswith("unknown_member")


def test_since_without_a_filter_is_refused_naming_since(
    ams: Any, acme: TenantHandle, received: list[str]
) -> None:
    response = inbox(ams, acme, since=1)

    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "since", "message": "needs 'result'"}]
