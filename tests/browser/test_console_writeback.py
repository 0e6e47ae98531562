"""Writeback in the console, in a real browser: a fault rule makes deliveries fail, the dead letters
show up, replaying them delivers them; advancing the clock lets a batch window deliver."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator.scenario.client import SandboxClient, TenantClient

FAST_RETRIES = {"retry": {"schedule_seconds": [0, 0.2, 0.2], "time_scale": 1.0, "jitter": 0}}


def _eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _complete_a_course(tenant: TenantClient) -> str:
    member = tenant.member_by_email("active.member@demo.test")["member_id"]
    enrollment = tenant.enroll(member, "ETH-101")
    tenant.complete_enrollment(enrollment["id"], score=95)
    return member


@pytest.fixture
def fast_tenant(sandbox: SandboxClient) -> Iterator[TenantClient]:
    tenant = sandbox.create_tenant(f"ui-{secrets.token_hex(4)}", settings=FAST_RETRIES)
    try:
        yield tenant
    finally:
        sandbox.delete_tenant(tenant.tenant_id)


def test_failing_writebacks_become_dead_letters_and_replaying_them_delivers_them(
    admin_page: Any, fast_tenant: TenantClient
) -> None:
    page, tenant = admin_page, fast_tenant
    page.goto(f"/tenants/{tenant.tenant_id}/faults")
    page.get_by_label("App").select_option("ams")
    page.get_by_label("Path glob").fill("/writeback/*")
    page.get_by_label("Status").fill("503")
    page.get_by_role("button", name="Add the rule").click()
    assert page.locator("#fault-rules tbody tr[id^=rule-]").count() == 1

    member = _complete_a_course(tenant)
    _eventually(lambda: tenant.outbox(state="dead")["counts"].get("dead"), "the writebacks to go dead")
    page.goto(f"/tenants/{tenant.tenant_id}/writeback")
    dead = int(page.locator("#count-dead").inner_text())
    assert dead >= 1 and page.locator("#dead-letters tbody tr").count() == dead
    assert tenant.transcript(member)["records"] == []

    page.goto(f"/tenants/{tenant.tenant_id}/faults")
    assert int(page.locator("[id$='-fired']").first.inner_text()) >= 3
    page.get_by_role("button", name="Clear all").click()
    assert page.locator("#fault-rules tbody tr[id^=rule-]").count() == 0

    page.goto(f"/tenants/{tenant.tenant_id}/writeback")
    page.get_by_role("button", name="Replay all dead letters").click()
    assert "queued" in page.locator(".flash").inner_text()
    _eventually(lambda: tenant.transcript(member)["records"], "the replayed writeback to arrive")
    page.goto(f"/tenants/{tenant.tenant_id}/writeback")
    assert page.locator("#count-dead").inner_text() == "0"
    assert int(page.locator("#count-delivered").inner_text()) >= dead
    records = tenant.transcript(member)["records"]
    assert [record["activity_code"] for record in records] == ["ETH-101"]


def test_advancing_the_clock_past_the_batch_window_delivers_the_batch(
    admin_page: Any, sandbox: SandboxClient
) -> None:
    nightly = {
        "timezone": "UTC",
        "writeback": {
            "rules": [
                {
                    "name": "nightly-ce",
                    "trigger": "credits.awarded",
                    "value_format": "ce_credit",
                    "destination": "ce_transcript",
                    "mode": "batch",
                    "schedule": {"every": "nightly", "at": "02:00"},
                }
            ]
        },
    }
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    tenant = sandbox.create_tenant(f"ui-{secrets.token_hex(4)}", settings=nightly, clock_start=start)
    try:
        page = admin_page
        member = _complete_a_course(tenant)
        time.sleep(1.5)  # the worker polls every 0.2 s: anything it would send at once has gone by now
        assert tenant.transcript(member)["records"] == []
        page.goto(f"/tenants/{tenant.tenant_id}")
        assert page.locator("#clock-state").inner_text() == "frozen"
        page.get_by_role("button", name="Advance 1 day").click()
        assert "job(s) ran" in page.locator(".flash").inner_text()
        _eventually(lambda: tenant.transcript(member)["records"], "the nightly batch to deliver")
        page.goto(f"/tenants/{tenant.tenant_id}/writeback")
        assert int(page.locator("#count-delivered").inner_text()) >= 1
        assert page.locator("#count-dead").inner_text() == "0"
    finally:
        sandbox.delete_tenant(tenant.tenant_id)
