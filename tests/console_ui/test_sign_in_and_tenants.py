"""Signing in to the console, the tenant list and a tenant's dashboard, as a person uses them."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN, ADMIN_KEY
from tests.console_ui.conftest import UiSession, text_of


def test_pages_need_a_signed_in_key_and_the_key_never_appears_in_a_page_or_url(console: Any) -> None:
    assert console.get("/tenants").headers["Location"].startswith("/sign-in?next=/tenants")
    session = UiSession(console)
    wrong = session.sign_in("not-a-key")
    assert wrong.status_code == 401 and "not the admin key" in text_of(wrong.text)
    assert console.get("/tenants").status_code == 302
    signed = session.sign_in(ADMIN_KEY)
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    assert "sandbox_console_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert ADMIN_KEY not in cookie
    page = session.page("/tenants")
    assert page.status_code == 200 and ADMIN_KEY not in page.text
    assert "'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_a_form_without_the_session_csrf_token_changes_nothing(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    forged = ui.client.post("/tenants/acme/clock", data={"action": "day"})
    assert forged.status_code == 400 and "expired or came from another site" in text_of(forged.text)
    forged_create = ui.client.post("/tenants", data={"id": "evil", "csrf_token": "guess"})
    assert forged_create.status_code == 400
    assert ui.client.get("/api/tenants/evil", headers=ADMIN).status_code == 404


def test_creating_a_tenant_shows_its_key_once_and_bad_ids_are_explained_next_to_the_field(
    ui: UiSession,
) -> None:
    bad = ui.submit("/tenants", id="Not Valid!")
    assert bad.status_code == 422 and 'id="e-id"' in bad.text
    created = ui.submit("/tenants", id="acme", name="Acme", seed="3")
    assert created.status_code == 201
    key = created.text.split('id="api-key">', 1)[1].split("<", 1)[0]
    assert key.startswith("sbx_acme_")
    assert ui.client.get("/api/tenants/acme", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert key not in ui.page("/tenants").text and key not in ui.page("/tenants/acme").text
    again = ui.submit("/tenants", id="acme")
    assert again.status_code == 422 and "already" in text_of(again.text)


def test_the_dashboard_lists_connector_urls_counts_and_the_clock(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme", members=5)
    page = text_of(ui.page("/tenants/acme").text)
    assert "http://127.0.0.1:9001/t/acme/saml/metadata" in page or "/t/acme/saml/metadata" in page
    assert "/t/acme/.well-known/openid-configuration" in page and "/t/acme/writeback/records" in page
    assert "sha256:" in page  # the inbox secret is named by its fingerprint, never shown
    overview = ui.client.get("/api/tenants/acme/overview", headers=ADMIN).get_json()
    assert overview["counts"]["members"] == 11 and f"{overview['counts']['members']} members" in page
    before = ui.client.get("/api/tenants/acme/clock", headers=ADMIN).get_json()
    assert ui.submit("/tenants/acme/clock", action="freeze").status_code == 303
    assert ui.submit("/tenants/acme/clock", action="day").status_code == 303
    after = ui.client.get("/api/tenants/acme/clock", headers=ADMIN).get_json()
    assert after["frozen"] is True and after["offset_seconds"] - before["offset_seconds"] >= 86_399
    assert "frozen" in text_of(ui.page("/tenants/acme").text)


def test_a_tenant_key_sees_only_its_tenant(ui_as: Any, make_tenant: Any) -> None:
    acme, other = make_tenant("acme"), make_tenant("other")
    session = ui_as(acme.api_key)
    assert session.page("/").headers["Location"] == "/tenants/acme"
    assert session.page("/tenants/acme").status_code == 200
    for path in (
        "/tenants/other",
        "/tenants/other/members",
        "/tenants/other/journal",
        "/tenants",
        "/tenants/other/delete",
    ):
        assert session.page(path).status_code == 404, path
    assert session.submit("/tenants/other/reset").status_code == 404
    assert session.submit("/tenants/other/delete", confirm="other").status_code == 404
    assert other.id in [
        t["id"] for t in ui_as(ADMIN_KEY).client.get("/api/tenants", headers=ADMIN).get_json()["tenants"]
    ]


def test_rotating_a_tenant_key_signs_its_console_sessions_out(ui_as: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    session = ui_as(acme.api_key)
    assert session.page("/tenants/acme").status_code == 200
    assert session.client.post("/api/tenants/acme/api-key", headers=ADMIN).status_code == 200
    assert session.page("/tenants/acme").status_code == 302


def test_deleting_a_tenant_needs_its_id_typed(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    assert "Type" in text_of(ui.page("/tenants/acme/delete").text)
    assert ui.submit("/tenants/acme/delete", confirm="wrong").status_code == 303
    assert ui.client.get("/api/tenants/acme", headers=ADMIN).status_code == 200
    assert ui.submit("/tenants/acme/delete", confirm="acme").headers["Location"] == "/tenants"
    assert ui.client.get("/api/tenants/acme", headers=ADMIN).status_code == 404
