"""A real SAML sign-in at the LMS through the AMS, then found in the console's journal with the
SAMLResponse decoded; the journal's live tail shows new requests as they happen."""

from __future__ import annotations

import re
from typing import Any

from simulator.scenario.client import SandboxClient, TenantClient
from tests.browser.conftest import sign_in

PERSONA = "active.member@demo.test"


def _sign_in_at_the_lms(page: Any, tenant: TenantClient) -> None:
    page.goto(f"{tenant.lms_base}/login?return_to=/t/{tenant.tenant_id}/learning")
    assert page.url.startswith(tenant.sandbox.ams_url), page.url  # sent to the AMS to sign in
    page.get_by_label("Email").fill(PERSONA)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: url.startswith(f"{tenant.lms_base}/learning"))
    assert page.get_by_role("heading", level=1).inner_text() == "My learning"


def test_a_saml_sign_in_is_found_in_the_journal_with_its_response_decoded(
    page: Any, sandbox: SandboxClient, tenant: TenantClient
) -> None:
    _sign_in_at_the_lms(page, tenant)
    member_id = tenant.member_by_email(PERSONA)["member_id"]

    sign_in(page, sandbox.key)
    page.goto(f"/tenants/{tenant.tenant_id}/journal")
    page.get_by_label("Path").fill("/saml/acs")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#journal-entries tbody tr")
    assert rows.count() == 1
    assert "POST" in rows.first.inner_text() and "/saml/acs" in rows.first.inner_text()
    rows.first.get_by_role("link").first.click()

    decoded = page.locator("#saml-1")
    text = decoded.inner_text()
    assert "SAMLResponse" in text
    assert f"{tenant.ams_base}/saml/metadata" in text  # the issuer: the tenant's AMS
    assert f"{tenant.lms_base}/saml/metadata" in text  # the audience: the LMS
    assert member_id in text or PERSONA in text  # the subject
    assert re.search(r"urn:oasis:names:tc:SAML:2\.0:status:Success", text)
    assert "#" in text and "rsa-sha256" in text  # what the signature covers, and how


def test_the_journal_live_tail_adds_new_requests(admin_page: Any, tenant: TenantClient) -> None:
    page = admin_page
    page.goto(f"/tenants/{tenant.tenant_id}/journal")
    before = page.locator("#journal-entries tbody tr").count()
    tenant.members(email="grace.member@demo.test")
    page.locator("#journal-entries tbody tr", has_text="/api/members").first.wait_for(timeout=10_000)
    assert page.locator("#journal-entries tbody tr").count() > before
