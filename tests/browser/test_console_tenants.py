"""Signing in, tenants, the dashboard and scenario runs, in a real browser."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from typing import Any

from simulator.scenario.client import SandboxClient, TenantClient
from tests.browser.conftest import sign_in


def test_signing_in_with_a_key_and_out_again(page: Any, sandbox: SandboxClient) -> None:
    page.goto("/tenants")
    assert "/sign-in" in page.url
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "not the admin key" in page.locator("#sign-in-error").inner_text()
    page.get_by_label("API key").fill(sandbox.key)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/tenants")
    assert page.get_by_role("heading", level=1).inner_text() == "Tenants"
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["sandbox_console_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and sandbox.key not in session["value"]
    assert sandbox.key not in page.content() and sandbox.key not in page.url
    page.get_by_role("button", name="Sign out").click()
    page.goto("/tenants")
    assert "/sign-in" in page.url


def test_a_new_tenant_shows_its_key_once_and_the_copy_buttons_copy(
    admin_page: Any, sandbox: SandboxClient
) -> None:
    page = admin_page
    tenant_id = f"ui-{secrets.token_hex(4)}"
    try:
        page.goto("/tenants")
        page.get_by_label("Id", exact=True).fill(tenant_id)
        page.get_by_label("Name").fill("Browser Test Association")
        page.get_by_role("button", name="Create and seed").click()
        assert page.get_by_role("heading", level=1).inner_text() == f"Tenant {tenant_id} created"
        key = page.locator("#api-key").inner_text()
        assert key.startswith(f"sbx_{tenant_id}_")
        page.get_by_role("button", name="Copy api key").click()
        assert page.evaluate("navigator.clipboard.readText()") == key
        assert sandbox.tenant(tenant_id, key).control("GET", "")["id"] == tenant_id

        page.get_by_role("link", name="Open its dashboard").click()
        metadata = f"{sandbox.ams_url}/t/{tenant_id}/saml/metadata"
        assert page.locator("#url-saml-idp-metadata").inner_text() == metadata
        page.get_by_role("button", name="Copy url saml idp metadata").click()
        assert page.evaluate("navigator.clipboard.readText()") == metadata
        assert key not in page.content()
        page.goto("/tenants")
        assert key not in page.content() and tenant_id in page.locator("#tenants").inner_text()
    finally:
        if sandbox.find_tenant(tenant_id) is not None:
            sandbox.delete_tenant(tenant_id)


def test_deleting_a_tenant_asks_for_its_id(admin_page: Any, sandbox: SandboxClient) -> None:
    tenant = sandbox.create_tenant(f"ui-{secrets.token_hex(4)}")
    page = admin_page
    page.goto(f"/tenants/{tenant.tenant_id}")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_label(re.compile("to confirm")).fill(tenant.tenant_id)
    page.get_by_role("button", name=f"Delete {tenant.tenant_id}").click()
    assert "were deleted" in page.locator(".flash").inner_text()
    assert sandbox.find_tenant(tenant.tenant_id) is None


def test_the_clock_buttons_freeze_and_advance_business_time(admin_page: Any, tenant: TenantClient) -> None:
    page = admin_page
    page.goto(f"/tenants/{tenant.tenant_id}")
    page.get_by_role("button", name="Freeze").click()
    assert page.locator("#clock-state").inner_text() == "frozen"
    before = dt.datetime.fromisoformat(tenant.clock()["now"])  # frozen: business time stands still
    page.get_by_role("button", name="Advance 30 days").click()
    assert "advanced" in page.locator(".flash").inner_text()
    assert dt.datetime.fromisoformat(tenant.clock()["now"]) - before == dt.timedelta(days=30)
    page.get_by_role("button", name="Resume").click()
    assert page.locator("#clock-state").inner_text() == "running"


def test_a_tenant_key_cannot_reach_another_tenants_pages(
    page: Any, sandbox: SandboxClient, tenant: TenantClient
) -> None:
    other = sandbox.create_tenant(f"ui-{secrets.token_hex(4)}")
    try:
        sign_in(page, tenant.key)
        assert page.url.endswith(f"/tenants/{tenant.tenant_id}")
        for path in ("", "/members", "/orders", "/writeback", "/journal", "/faults", "/settings"):
            response = page.goto(f"/tenants/{other.tenant_id}{path}")
            assert response.status == 404, path
            assert page.get_by_role("heading", level=1).inner_text() == "Not found"
        assert page.goto("/tenants").status == 404
        assert page.goto(f"/tenants/{tenant.tenant_id}").status == 200
    finally:
        sandbox.delete_tenant(other.tenant_id)


def test_running_a_library_scenario_from_the_console_and_reading_its_report(
    admin_page: Any, sandbox: SandboxClient
) -> None:
    page = admin_page
    before = {run["id"] for run in sandbox.scenario_runs(limit=100)}
    page.goto("/scenario-runs")
    first = page.locator("#scenario option").first.get_attribute("value")
    assert first is not None and first.startswith("01-")
    page.get_by_label("Scenario").select_option(value=first)
    page.get_by_role("button", name="Run").click()
    assert "Started" in page.locator(".flash").inner_text()
    deadline = time.monotonic() + 120
    new_runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not new_runs:
        time.sleep(1)
        new_runs = [run for run in sandbox.scenario_runs(limit=100) if run["id"] not in before]
    assert new_runs, "the scenario run never reached the history"
    page.goto("/scenario-runs")
    page.get_by_role("link", name=str(new_runs[0]["id"]), exact=True).click()
    assert page.locator("#run-verdict").inner_text().startswith("Passed"), page.locator(
        "#timeline"
    ).inner_text()
    assert page.locator("#timeline tbody tr").count() == new_runs[0]["steps"] + 1
