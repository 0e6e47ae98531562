"""The console's writeback pages over real outbox traffic: LMS completions delivered over HTTP to a served
AMS (some while its inbox answers 503, so they die), the outbox and its dead letters, one message's every
attempt, replaying from the page, the AMS inbox's results, and the deliveries-and-failures chart."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from lxml import html
from sqlalchemy import select

import simulator.jobs  # noqa: F401 - registers outbox delivery as due work
from simulator.console.outbox_api import OutboxActivity
from simulator.core.db import Database
from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.webhooks import sign_headers
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, ADMIN_KEY, make_config
from tests.console_ui.conftest import UiSession, text_of
from tests.writeback.conftest import FAST_RETRY, World, serve

PAGE = "/tenants/acme/writeback"
PLOT_HEIGHT = 172.0  # PLOT_BOTTOM - PLOT_TOP of the chart


@dataclass
class Traffic:
    """What the ``traffic`` fixture sent: two delivered messages, then two that died behind a 503."""

    world: World
    ui: UiSession
    delivered: list[int]
    dead: list[int]

    def outbox(self, **query: Any) -> dict[str, Any]:
        return self.world.console.get(
            "/api/tenants/acme/outbox", query_string=query, headers=ADMIN
        ).get_json()

    def states(self) -> dict[int, str]:
        return {item["id"]: item["state"] for item in self.outbox()["items"]}

    def session_for(self, key: str) -> UiSession:
        session = UiSession(FlaskClient(self.world.console.application, use_cookies=True))
        assert session.sign_in(key).status_code == 303
        return session


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    """The AMS served over HTTP on a free port (where the outbox sends), the console as a test client."""
    from simulator.ams.app import create_app as ams_app
    from simulator.console.app import create_app as console_app

    (ams_port,) = free_ports(1)
    config = make_config(tmp_path, db_url, ams_port=ams_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    server = serve(ams_app(config, db), ams_port)
    console = console_app(config, db).test_client()
    created = console.post("/api/tenants", json={"id": "acme", "members": 5, "seed": 3}, headers=ADMIN)
    assert created.status_code == 201, created.get_json()
    try:
        yield World(config, db, console, "acme", created.get_json()["api_key"])
    finally:
        server.shutdown()
        server.server_close()
        db.dispose()


@pytest.fixture
def traffic(world: World) -> Traffic:
    """A short retry schedule, a frozen clock; one course passed and delivered (2 messages), then the inbox
    answers 503 and another passed course's 2 messages die after 5 attempts each."""
    world.patch_settings({"retry": FAST_RETRY})
    assert world.console.post("/api/tenants/acme/clock/freeze", headers=ADMIN).status_code == 200
    first, second = world.member_ids(2)
    world.complete_in_lms([(first, "ETH-101")])
    world.advance(seconds=1)
    fault = {
        "app": "ams",
        "method": "POST",
        "path": "/writeback/records",
        "status": 503,
        "name": "inbox down",
    }
    assert world.console.post("/api/tenants/acme/faults", json=fault, headers=ADMIN).status_code == 201
    world.complete_in_lms([(second, "CLE-204")])
    world.advance(seconds=5)
    ui = UiSession(world.console)
    assert ui.sign_in(ADMIN_KEY).status_code == 303
    traffic = Traffic(world, ui, [], [])
    traffic.delivered = [pk for pk, state in traffic.states().items() if state == "delivered"]
    traffic.dead = [pk for pk, state in traffic.states().items() if state == "dead"]
    assert len(traffic.delivered) == 2 and len(traffic.dead) == 2
    return traffic


def tree(response: Any) -> Any:
    assert "style=" not in response.text and "<style" not in response.text  # the CSP forbids them
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    return html.fromstring(response.text)


def cells(table: Any) -> list[list[str]]:
    return [
        [" ".join(cell.text_content().split()) for cell in row.xpath("th|td")]
        for row in table.xpath("tbody/tr")
    ]


def test_the_page_counts_the_outbox_and_lists_dead_letters_with_replay_buttons(traffic: Traffic) -> None:
    response = traffic.ui.page(PAGE)
    assert response.status_code == 200
    page = tree(response)
    counts = {
        state: page.get_element_by_id(f"count-{state}").text for state in ("delivered", "dead", "pending")
    }
    assert counts == {"delivered": "2", "dead": "2", "pending": "0"}

    dead_rows = page.get_element_by_id("dead-letters").xpath("tbody/tr")
    assert sorted(int(row.get("id").removeprefix("dead-")) for row in dead_rows) == sorted(traffic.dead)
    for row in dead_rows:
        pk = row.get("id").removeprefix("dead-")
        assert row.xpath(f".//form[@action='/tenants/acme/writeback/messages/{pk}/replay']//button")
        assert row.xpath(".//input[@name='csrf_token']")
        assert "503" in row.text_content()
    assert page.get_element_by_id("replay-all").get("action") == "/tenants/acme/writeback/replay-dead"

    every = cells(page.get_element_by_id("messages"))
    assert [int(row[0]) for row in every] == sorted(traffic.delivered + traffic.dead)
    assert {row[1] for row in every} == {"writeback.record"}
    assert {(row[3], row[4]) for row in every} == {("delivered", "1"), ("dead", "5")}
    assert {row[6] for row in every} == {"201", "503"}
    links = page.get_element_by_id("messages").xpath(".//a/@href")
    assert f"/tenants/acme/writeback/messages/{traffic.dead[0]}" in links


def test_the_messages_are_filtered_by_state_and_topic_and_a_bad_filter_is_explained(traffic: Traffic) -> None:
    dead_only = cells(
        tree(traffic.ui.page(PAGE, query_string={"state": "dead"})).get_element_by_id("messages")
    )
    assert sorted(int(row[0]) for row in dead_only) == sorted(traffic.dead)
    other_topic = traffic.ui.page(PAGE, query_string={"topic": "credit.recorded"})
    assert "No messages match." in text_of(other_topic.text)

    bad = traffic.ui.page(PAGE, query_string={"state": "lost"})
    assert bad.status_code == 422
    select_box = tree(bad).get_element_by_id("f-state")
    assert select_box.get("aria-invalid") == "true"
    assert tree(bad).get_element_by_id("e-state").text_content().strip()


def test_a_message_page_shows_every_attempt_with_status_latency_and_the_next_try(traffic: Traffic) -> None:
    pk = traffic.dead[0]
    api = traffic.world.console.get(f"/api/tenants/acme/outbox/{pk}", headers=ADMIN).get_json()
    response = traffic.ui.page(f"{PAGE}/messages/{pk}")
    assert response.status_code == 200
    page = tree(response)

    rows = cells(page.get_element_by_id("attempts"))
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5"]
    assert [row[2] for row in rows] == ["retrying"] * 4 + ["dead"]
    assert [row[3] for row in rows] == ["503"] * 5
    assert [row[4] for row in rows] == [f"{attempt['latency_ms']:.2f} ms" for attempt in api["attempts"]]
    assert all(row[6] for row in rows)  # the worker that made it
    assert [row[7] for row in rows[:4]] == [row[1] for row in rows[1:]]  # retried when the next attempt ran
    assert rows[4][7] == "—"
    assert page.get_element_by_id("attempt-count").text == "5"
    assert page.get_element_by_id("next-attempt").text_content().startswith("none: a dead letter")
    assert (
        page.get_element_by_id("endpoint-url").text
        == f"{traffic.world.config.ams_url}/t/acme/writeback/records"
    )
    payload = page.get_element_by_id("payload").text
    assert json.loads(payload) == api["payload"] and "\n  " in payload
    assert page.xpath(f"//form[@action='/tenants/acme/writeback/messages/{pk}/replay']")

    delivered = tree(traffic.ui.page(f"{PAGE}/messages/{traffic.delivered[0]}"))
    assert [row[2:4] for row in cells(delivered.get_element_by_id("attempts"))] == [["delivered", "201"]]
    assert not delivered.xpath("//form[@id='replay']")

    assert traffic.ui.page(f"{PAGE}/messages/999999").status_code == 404
    assert traffic.ui.page(f"{PAGE}/messages/{2**70}").status_code == 404


def test_replaying_one_then_all_from_the_page_requeues_them_and_they_arrive_once_the_fault_is_gone(
    traffic: Traffic,
) -> None:
    one, other = traffic.dead
    assert traffic.world.console.delete("/api/tenants/acme/faults", headers=ADMIN).status_code == 204

    replayed = traffic.ui.submit(f"{PAGE}/messages/{one}/replay", return_to="message")
    assert replayed.status_code == 303 and replayed.headers["Location"] == f"{PAGE}/messages/{one}"
    landed = traffic.ui.page(replayed.headers["Location"])
    assert "1 dead letter queued for delivery again." in text_of(landed.text)
    assert tree(landed).get_element_by_id("message-state").text == "pending"
    assert traffic.states()[one] == "pending" and traffic.states()[other] == "dead"

    again = traffic.ui.submit(f"{PAGE}/messages/{one}/replay")
    assert again.headers["Location"] == PAGE
    assert "Not replayed: Message" in text_of(traffic.ui.page(PAGE).text)

    everything = traffic.ui.submit(f"{PAGE}/replay-dead")
    assert everything.status_code == 303 and everything.headers["Location"] == PAGE
    page = traffic.ui.page(PAGE)
    assert "1 dead letter queued for delivery again." in text_of(page.text)
    assert traffic.outbox()["counts"] == {"delivered": 2, "pending": 2}
    assert tree(page).get_element_by_id("count-pending").text == "2"

    traffic.world.advance(seconds=1)
    assert traffic.outbox()["counts"] == {"delivered": 4}
    page = tree(traffic.ui.page(PAGE))
    assert page.get_element_by_id("count-delivered").text == "4"
    assert page.get_element_by_id("no-dead-letters") is not None
    attempts = cells(tree(traffic.ui.page(f"{PAGE}/messages/{one}")).get_element_by_id("attempts"))
    assert [row[2:4] for row in attempts][-1] == ["delivered", "201"]
    traffic.ui.submit(f"{PAGE}/replay-dead")
    assert "nothing was queued" in text_of(traffic.ui.page(PAGE).text)


def test_a_replay_without_the_csrf_token_changes_nothing(traffic: Traffic) -> None:
    client = traffic.ui.client
    for path, data in (
        (f"{PAGE}/messages/{traffic.dead[0]}/replay", {}),
        (f"{PAGE}/replay-dead", {}),
        (f"{PAGE}/replay-dead", {"csrf_token": "guessed"}),
    ):
        forged = client.post(path, data=data)
        assert forged.status_code == 400 and "expired or came from another site" in text_of(forged.text)
    assert traffic.outbox()["counts"] == {"delivered": 2, "dead": 2}


def test_the_inbox_section_shows_stored_duplicate_and_rejected_results_newest_first(traffic: Traffic) -> None:
    world = traffic.world
    assert world.console.delete("/api/tenants/acme/faults", headers=ADMIN).status_code == 204
    with world.db.read() as session:
        secret = session.scalar(
            select(WebhookEndpoint.secret).where(
                WebhookEndpoint.tenant_id == "acme", WebhookEndpoint.name == "ams-writeback"
            )
        )
    delivered = world.console.get(
        f"/api/tenants/acme/outbox/{traffic.delivered[0]}", headers=ADMIN
    ).get_json()
    stranger = {**delivered["payload"], "id": "wb_stranger", "member_id": "M999999"}
    stranger["record"] = {**stranger["record"], "member_id": "M999999"}
    for webhook_id, document in ((delivered["message_id"], delivered["payload"]), ("wb_stranger", stranger)):
        body = json.dumps(document).encode()
        headers = {**sign_headers(secret, webhook_id, body), "Content-Type": "application/json"}
        response = httpx.post(
            f"{world.config.ams_url}/t/acme/writeback/records", content=body, headers=headers
        )
        assert response.status_code in (200, 422), response.text

    page = tree(traffic.ui.page(PAGE))
    counts = {
        result: page.get_element_by_id(f"inbox-count-{result}").text
        for result in ("accepted", "duplicate", "rejected")
    }
    assert counts == {"accepted": "2", "duplicate": "1", "rejected": "1"}
    rows = cells(page.get_element_by_id("inbox"))
    assert [row[1] for row in rows] == ["rejected", "duplicate", "stored", "stored"]
    assert "unknown_member" in rows[0][5] and rows[0][3] == "M999999"
    assert rows[1][2] == delivered["payload"]["id"] and rows[1][5] != "—"

    only = cells(tree(traffic.ui.page(PAGE, query_string={"result": "duplicate"})).get_element_by_id("inbox"))
    assert [row[1] for row in only] == ["duplicate"]
    bad = traffic.ui.page(PAGE, query_string={"inbox_since": "3"})
    assert bad.status_code == 422
    assert "needs 'result'" in tree(bad).xpath("//p[@role='alert']")[0].text_content()


def chart_numbers(page: Any) -> tuple[list[list[int]], list[Any]]:
    table = page.get_element_by_id("activity-table")
    rows = [[int(cell) for cell in row[1:]] for row in cells(table)]
    return rows, page.get_element_by_id("activity-chart").xpath(".//*[local-name()='rect'][@class]")


def test_the_chart_and_its_table_show_the_numbers_of_the_activity_api(traffic: Traffic) -> None:
    api = traffic.world.console.get("/api/tenants/acme/outbox/activity", headers=ADMIN)
    assert api.status_code == 200
    activity = api.get_json()
    OutboxActivity.model_validate(activity)  # the documented response model
    assert (activity["delivered"], activity["failed"]) == (2, 10)  # 2 × 201; 2 × (4 retried + 1 dead)
    assert len(activity["buckets"]) <= 25 and activity["bucket_seconds"] == 300

    page = tree(traffic.ui.page(PAGE))
    svg = page.get_element_by_id("activity-chart")
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "activity-title activity-desc"
    assert "2 delivered, 10 failed" in page.get_element_by_id("activity-title").text
    assert "10 failed" in page.get_element_by_id("activity-desc").text
    rows, bars = chart_numbers(page)
    assert rows == [[bucket["delivered"], bucket["failed"]] for bucket in activity["buckets"]]
    assert len(bars) == 2 * len(activity["buckets"])
    busy = next(index for index, bucket in enumerate(activity["buckets"]) if bucket["failed"])
    delivered_bar, failed_bar = bars[2 * busy], bars[2 * busy + 1]
    assert (delivered_bar.get("class"), failed_bar.get("class")) == ("bar-delivered", "bar-failed")
    assert float(failed_bar.get("height")) == PLOT_HEIGHT  # 10 is the top of the axis
    assert float(delivered_bar.get("height")) == pytest.approx(PLOT_HEIGHT * 2 / 10, abs=0.2)
    assert "Attempts" in svg.text_content() and "Business time" in svg.text_content()

    day = traffic.world.console.get("/api/tenants/acme/outbox/activity?hours=24", headers=ADMIN).get_json()
    assert day["bucket_seconds"] == 3600 and len(day["buckets"]) in (24, 25)  # the first one is partial
    assert (day["delivered"], day["failed"]) == (2, 10)
    refused = traffic.world.console.get("/api/tenants/acme/outbox/activity?hours=0", headers=ADMIN)
    assert refused.status_code == 422


def test_the_chart_widens_its_buckets_to_keep_every_attempt_as_the_clock_moves_on(traffic: Traffic) -> None:
    traffic.world.advance(days=4)
    activity = traffic.world.console.get("/api/tenants/acme/outbox/activity", headers=ADMIN).get_json()
    assert activity["bucket_seconds"] == 6 * 3600 and len(activity["buckets"]) <= 25
    assert (activity["delivered"], activity["failed"]) == (2, 10)
    rows, _ = chart_numbers(tree(traffic.ui.page(PAGE)))
    assert rows == [[bucket["delivered"], bucket["failed"]] for bucket in activity["buckets"]]
    assert "per 6 hours" in text_of(traffic.ui.page(PAGE).text)


def test_a_tenant_key_can_neither_see_nor_replay_another_tenants_messages(traffic: Traffic) -> None:
    created = traffic.world.console.post("/api/tenants", json={"id": "other"}, headers=ADMIN)
    intruder = traffic.session_for(created.get_json()["api_key"])
    dead = traffic.dead[0]
    for path in (PAGE, f"{PAGE}/messages/{dead}", f"/tenants/other/writeback/messages/{dead}"):
        assert intruder.page(path).status_code == 404, path
    for path in (
        f"{PAGE}/messages/{dead}/replay",
        f"{PAGE}/replay-dead",
        f"/tenants/other/writeback/messages/{dead}/replay",
    ):
        assert intruder.submit(path).status_code == 404, path
    assert intruder.page("/tenants/other/writeback").status_code == 200
    assert intruder.submit("/tenants/other/writeback/replay-dead").status_code == 303
    key = {"Authorization": f"Bearer {created.get_json()['api_key']}"}
    assert traffic.world.console.get("/api/tenants/acme/outbox/activity", headers=key).status_code == 404
    assert traffic.outbox()["counts"] == {"delivered": 2, "dead": 2}

    owner = traffic.session_for(traffic.world.api_key)
    assert owner.page(f"{PAGE}/messages/{dead}").status_code == 200
    assert owner.submit(f"{PAGE}/messages/{dead}/replay").status_code == 303
    assert traffic.states()[dead] == "pending"
