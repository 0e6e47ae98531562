"""What the IdP asserts: release rules, renames, custom profile fields and the access policy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator.ams.idp.testing import SamlTestSp, form_fields
from tests.conftest import ADMIN
from tests.sso.test_idp_oidc import (
    AMS_URL,
    authorize,
    code_from,
    exchange,
    register_client,
    verify_with_pyjwt,
)
from tests.sso.test_idp_saml import idp_certificates, register, sso_redirect

MEMBER_STATUS = "urn:ams-lms-sandbox:attribute:member_status"
ACCESS = "urn:ams-lms-sandbox:attribute:access"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


def patch_settings(console: Any, patch: dict[str, Any]) -> None:
    response = console.patch("/api/tenants/acme/settings", json=patch, headers=ADMIN)
    assert response.status_code == 200, response.get_json()


def saml_login(ams: Any, console: Any, email: str, **options: Any) -> tuple[Any, SamlTestSp, str]:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    register(console, sp, **options)
    assert ams.post("/t/acme/login", data={"email": email, "password": "demo"}).status_code == 303
    request_id, page = sso_redirect(ams, sp)
    return page, sp, request_id


def saml_attributes(ams: Any, console: Any, email: str = "active.member@demo.test", **options: Any) -> dict:
    page, sp, request_id = saml_login(ams, console, email, **options)
    _, fields = form_fields(page.get_data(as_text=True))
    return sp.validate(fields["SAMLResponse"], request_id).get_attributes()


def test_saml_attributes_have_uri_names_and_friendly_names(ams: Any, console: Any, tenant: Any) -> None:
    page, sp, request_id = saml_login(ams, console, "active.member@demo.test")
    _, fields = form_fields(page.get_data(as_text=True))
    response = sp.validate(fields["SAMLResponse"], request_id)

    friendly = response.get_friendlyname_attributes()
    assert friendly["mail"] == ["active.member@demo.test"]
    assert friendly["givenName"] == ["Alex"]
    assert friendly["sn"] == ["Active"]
    assert friendly["member_status"] == ["active"]
    assert friendly["chapter"] == ["Northeast"]
    attributes = response.get_attributes()
    assert attributes["urn:oid:2.5.4.42"] == ["Alex"]
    assert attributes["urn:ams-lms-sandbox:attribute:membership_expires"][0][:2] == "20"
    assert ACCESS not in attributes


def test_release_rules_limit_what_an_sp_receives(ams: Any, console: Any, tenant: Any) -> None:
    attributes = saml_attributes(ams, console, attributes=["email"])

    assert set(attributes) == {"urn:oid:0.9.2342.19200300.100.1.3", "urn:ams-lms-sandbox:attribute:member_id"}


def test_renamed_attributes_go_out_under_their_new_names(ams: Any, console: Any, tenant: Any) -> None:
    patch_settings(console, {"sso": {"attribute_names": {"member_status": "urn:imis:MemberStatus"}}})

    attributes = saml_attributes(ams, console)

    assert attributes["urn:imis:MemberStatus"] == ["active"]
    assert MEMBER_STATUS not in attributes


def test_a_lapsed_member_gets_a_denied_page_and_no_assertion(ams: Any, console: Any, tenant: Any) -> None:
    page, _, _ = saml_login(ams, console, "lapsed.member@demo.test")

    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "Your membership has lapsed; renew to regain access." in text
    assert "SAMLResponse" not in text


def test_read_only_access_rides_in_the_assertion(ams: Any, console: Any, tenant: Any) -> None:
    patch_settings(console, {"access": {"lapsed": "read_only"}})

    attributes = saml_attributes(ams, console, email="lapsed.member@demo.test")

    assert attributes[ACCESS] == ["read_only"]
    assert attributes[MEMBER_STATUS] == ["lapsed"]


def test_status_is_read_at_login_time(ams: Any, console: Any, tenant: Any) -> None:
    member = ams.get("/t/acme/api/members?email=active.member@demo.test", headers=ADMIN).get_json()[
        "members"
    ][0]
    change = ams.patch(f"/t/acme/api/members/{member['member_id']}", json={"status": "lapsed"}, headers=ADMIN)
    assert change.status_code == 200

    page, _, _ = saml_login(ams, console, "active.member@demo.test")

    assert page.status_code == 403


@pytest.fixture
def browser_for(ams: Any) -> Any:
    def create(email: str) -> httpx.Client:
        client = httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)
        assert client.post("/t/acme/login", data={"email": email, "password": "demo"}).status_code == 303
        return client

    return create


def test_oidc_restricted_non_member_gets_the_access_claim(
    console: Any, tenant: Any, browser_for: Any
) -> None:
    patch_settings(
        console,
        {"access": {"non_members": "restricted"}, "sso": {"attribute_names": {"access": "lms_access"}}},
    )
    browser = browser_for("nonmember@demo.test")
    client = register_client(console)
    response = authorize(browser, client["client_id"])
    tokens = exchange(browser, client, code_from(response), response.extensions["code_verifier"]).json()

    claims = verify_with_pyjwt(browser, tokens["id_token"], client["client_id"])
    assert claims["lms_access"] == "restricted"
    assert claims["record_type"] == "non_member"
    userinfo = browser.get(
        "/t/acme/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.json()["lms_access"] == "restricted"


def test_oidc_denied_prospect_gets_a_page_not_a_code(
    console: Any, ams: Any, tenant: Any, browser_for: Any
) -> None:
    created = ams.post(
        "/t/acme/api/members",
        json={
            "email": "pat@example.org",
            "given_name": "Pat",
            "family_name": "Prospect",
            "record_type": "prospect",
            "password": "demo",
        },
        headers=ADMIN,
    )
    assert created.status_code == 201, created.get_json()
    browser = browser_for("pat@example.org")
    client = register_client(console)

    response = authorize(browser, client["client_id"])

    assert response.status_code == 403
    assert "members only" in response.text


def test_oidc_release_rules_and_scopes(console: Any, tenant: Any, browser_for: Any) -> None:
    browser = browser_for("active.member@demo.test")
    client = register_client(console, attributes=["email"])
    response = authorize(browser, client["client_id"], scope="openid email profile")
    tokens = exchange(browser, client, code_from(response), response.extensions["code_verifier"]).json()

    claims = verify_with_pyjwt(browser, tokens["id_token"], client["client_id"])
    assert claims["email"] == "active.member@demo.test"
    assert "given_name" not in claims and "member_type" not in claims
