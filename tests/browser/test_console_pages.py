"""Every main page of the console: screenshots for the test artifacts, and the accessibility basics
(labels, heading order, keyboard reach, contrast) checked in the browser."""

from __future__ import annotations

from typing import Any

from simulator.scenario.client import SandboxClient, TenantClient
from tests.browser.a11y import accessibility_problems
from tests.browser.conftest import screenshot, sign_in

TENANT_PAGES = ("", "/members", "/orders", "/enrollments", "/writeback", "/journal", "/faults", "/settings")


def _some_traffic(tenant: TenantClient) -> None:
    member = tenant.member_by_email("active.member@demo.test")["member_id"]
    tenant.add_to_cart(member, "ETH-101")
    tenant.checkout(member, {"card_token": tenant.card_token("4242424242424242")})
    tenant.set_fault({"app": "ams", "path": "/api/ledger", "status": 503, "first_n": 1})
    tenant.members()


def test_main_pages_pass_the_accessibility_basics_and_are_screenshotted(
    page: Any, sandbox: SandboxClient, tenant: TenantClient
) -> None:
    _some_traffic(tenant)
    page.goto("/sign-in")
    assert accessibility_problems(page) == [], "sign-in page"
    screenshot(page, "00-sign-in")
    sign_in(page, sandbox.key)
    pages = [("/tenants", "01-tenants")]
    pages += [
        (
            f"/tenants/{tenant.tenant_id}{path}",
            f"{index + 2:02d}-tenant{path.replace('/', '-') or '-dashboard'}",
        )
        for index, path in enumerate(TENANT_PAGES)
    ]
    pages += [("/scenario-runs", "20-scenario-runs"), ("/conformance-runs", "21-conformance-runs")]
    failures = {}
    for path, name in pages:
        response = page.goto(path)
        assert response.status == 200, path
        problems = accessibility_problems(page)
        if problems:
            failures[path] = problems
        screenshot(page, name)
    assert failures == {}
