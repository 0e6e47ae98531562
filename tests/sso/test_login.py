"""The AMS login page: branding, good and bad passwords, deactivated people, per-tenant sessions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN

PASSWORD = "demo"


@pytest.fixture
def tenant(make_tenant: Any, console: Any) -> Any:
    handle = make_tenant(
        "acme", settings={"branding": {"association_name": "Acme Nurses Guild", "primary_colour": "#123456"}}
    )
    return handle


def login(ams: Any, tenant_id: str, email: str, password: str, next_url: str = "") -> Any:
    return ams.post(f"/t/{tenant_id}/login", data={"email": email, "password": password, "next": next_url})


def test_login_page_shows_the_tenant_branding(ams: Any, tenant: Any) -> None:
    page = ams.get("/t/acme/login")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Acme Nurses Guild" in text
    assert "#123456" in text
    assert 'autocomplete="current-password"' in text


def test_a_good_password_signs_in_and_continues_to_next(ams: Any, tenant: Any) -> None:
    response = login(ams, "acme", "active.member@demo.test", PASSWORD, "/t/acme/login/done")

    assert response.status_code == 303
    assert response.headers["Location"] == "/t/acme/login/done"
    done = ams.get("/t/acme/login/done")
    assert done.status_code == 200
    assert "You are signed in" in done.get_data(as_text=True)


def test_a_bad_password_shows_the_form_again_with_a_message(ams: Any, tenant: Any) -> None:
    response = login(ams, "acme", "active.member@demo.test", "wrong")

    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "do not match our records" in text
    assert "Traceback" not in text
    assert ams.get("/t/acme/login/done").status_code == 302


def test_an_unknown_email_gets_the_same_message(ams: Any, tenant: Any) -> None:
    response = login(ams, "acme", "nobody@demo.test", PASSWORD)

    assert response.status_code == 401
    assert "do not match our records" in response.get_data(as_text=True)


def test_a_deactivated_member_cannot_sign_in(ams: Any, tenant: Any) -> None:
    members = ams.get("/t/acme/api/members?email=student@demo.test", headers=tenant.auth).get_json()
    member_id = members["members"][0]["member_id"]
    assert ams.post(f"/t/acme/api/members/{member_id}/deactivate", headers=tenant.auth).status_code == 200

    response = login(ams, "acme", "student@demo.test", PASSWORD)

    assert response.status_code == 403
    assert "deactivated" in response.get_data(as_text=True)


def test_next_outside_the_tenant_is_ignored(ams: Any, tenant: Any) -> None:
    response = login(ams, "acme", "active.member@demo.test", PASSWORD, "https://evil.example/")

    assert response.headers["Location"] == "/t/acme/login/done"


def test_a_session_of_one_tenant_does_not_open_another(ams: Any, make_tenant: Any, tenant: Any) -> None:
    make_tenant("other")
    login(ams, "acme", "active.member@demo.test", PASSWORD)

    assert ams.get("/t/acme/login/done").status_code == 200
    assert ams.get("/t/other/login/done").status_code == 302


def test_logout_ends_the_session(ams: Any, tenant: Any) -> None:
    login(ams, "acme", "active.member@demo.test", PASSWORD)

    assert ams.get("/t/acme/logout").status_code == 200
    assert ams.get("/t/acme/login/done").status_code == 302


def test_the_password_never_reaches_the_journal(ams: Any, console: Any, tenant: Any) -> None:
    login(ams, "acme", "active.member@demo.test", "s3cret-Passw0rd")

    journal = console.get("/api/tenants/acme/journal?limit=50", headers=ADMIN)
    assert journal.status_code == 200
    assert "s3cret-Passw0rd" not in journal.get_data(as_text=True)
