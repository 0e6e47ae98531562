"""The AMS side of token hand-off SSO: the service registry, launch and authorize legs, the back channel.

The browser is httpx on the AMS app through its WSGI transport (real HTTP semantics, no sockets); the
service calling the back channel is played by plain httpx requests with its credential.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from simulator.ams.idp.testing import form_fields
from simulator.core.redaction import REDACTED, redact_url
from tests.conftest import ADMIN

AMS_URL = "http://127.0.0.1:8001"
LANDING = "https://lms.example.org/sso/landing"
RETURN_URL = "https://lms.example.org/sso/return"
PROBLEM = "application/problem+json"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


def ams_browser(ams: Any, email: str | None = "active.member@demo.test") -> httpx.Client:
    """An httpx client on the AMS app, signed in as ``email`` (or anonymous)."""
    client = httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)
    if email is not None:
        signed_in = client.post("/t/acme/login", data={"email": email, "password": "demo"})
        assert signed_in.status_code == 303, signed_in.text
    return client


@pytest.fixture
def browser(ams: Any, tenant: Any) -> httpx.Client:
    return ams_browser(ams)


@pytest.fixture
def back_channel(ams: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)


def register_service(console: Any, name: str = "Test LMS", tenant_id: str = "acme", **body: Any) -> dict:
    payload = {"name": name, "landing_url": LANDING, "return_url_allowlist": [RETURN_URL], **body}
    response = console.post(f"/api/tenants/{tenant_id}/token-services", json=payload, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def service(console: Any, tenant: Any) -> dict:
    return register_service(console)


def launch(browser: httpx.Client, service: dict, target: str | None = "/t/acme/courses") -> httpx.Response:
    query = f"service={service['service_id']}" + (f"&target={quote(target, safe='')}" if target else "")
    return browser.get(f"/t/acme/sso/token/launch?{query}")


def token_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["token"][0]


def validate(
    back_channel: httpx.Client, service: dict, token: str, tenant_id: str = "acme"
) -> httpx.Response:
    return back_channel.post(
        f"/t/{tenant_id}/sso/token/validate",
        data={"token": token},
        auth=(service["service_id"], service["service_secret"]),
    )


def assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["error"] == error == response.json()["code"]


# --- the registry on the control API -------------------------------------------------------------------


def test_a_deleted_service_can_no_longer_validate(
    console: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    token = token_from(launch(browser, service))
    deleted = console.delete(f"/api/tenants/acme/token-services/{service['service_id']}", headers=ADMIN)

    assert deleted.status_code == 204
    assert (
        console.get(f"/api/tenants/acme/token-services/{service['service_id']}", headers=ADMIN).status_code
        == 404
    )
    assert_refused(validate(back_channel, service, token), 401, "invalid_client")


# --- the browser legs -----------------------------------------------------------------------------------


def test_launch_sends_the_member_to_the_landing_url_and_validation_names_them(
    browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    response = launch(browser, service)
    location = urlsplit(response.headers["location"])
    token = token_from(response)

    assert f"{location.scheme}://{location.netloc}{location.path}" == LANDING
    assert parse_qs(location.query)["target"] == ["/t/acme/courses"]
    assert len(token) >= 22  # at least 128 bits, URL-safe base64
    assert response.content == b""  # no HTML body repeating the token

    validated = validate(back_channel, service, token)
    assert validated.status_code == 200, validated.text
    body = validated.json()
    assert body["attributes"]["email"] == "active.member@demo.test"
    assert body["attributes"]["member_status"] == "active"
    assert body["member_id"] == body["attributes"]["member_id"]
    assert body["access_decision"] == {"allowed": True, "access": "full", "category": "active", "message": ""}
    assert (body["flow"], body["target"], body["service_id"]) == (
        "launch",
        "/t/acme/courses",
        service["service_id"],
    )


def test_launch_signs_an_anonymous_browser_in_first_and_then_continues(
    ams: Any, tenant: Any, back_channel: httpx.Client, service: dict
) -> None:
    anonymous = ams_browser(ams, email=None)

    login_page = launch(anonymous, service)
    assert login_page.status_code == 200 and "location" not in login_page.headers
    action, fields = form_fields(login_page.text)
    assert action == "/t/acme/login"
    assert urlsplit(fields["next"]).path == "/t/acme/sso/token/launch"
    continued = anonymous.post(action, data={**fields, "email": "student@demo.test", "password": "demo"})

    assert continued.status_code == 302  # the hand-off itself, answered by the login form's POST
    assert continued.headers["location"].startswith(LANDING + "?token=")
    body = validate(back_channel, service, token_from(continued)).json()
    assert body["attributes"]["email"] == "student@demo.test"
    assert body["target"] == "/t/acme/courses"


def test_authorize_returns_to_an_allow_listed_url_with_a_token(
    browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    response = browser.get(
        "/t/acme/sso/token/authorize",
        params={"service": service["service_id"], "return_url": RETURN_URL, "target": "/t/acme/me"},
    )

    assert response.headers["location"].startswith(RETURN_URL + "?token=")
    body = validate(back_channel, service, token_from(response)).json()
    assert (body["flow"], body["target"]) == ("authorize", "/t/acme/me")


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/steal",
        RETURN_URL + "?next=x",
        RETURN_URL + "/",
        LANDING,  # registered as landing URL, not on the allow-list
        "",
    ],
)
def test_authorize_refuses_a_return_url_not_on_the_allow_list_without_redirecting(
    browser: httpx.Client, service: dict, return_url: str
) -> None:
    response = browser.get(
        "/t/acme/sso/token/authorize", params={"service": service["service_id"], "return_url": return_url}
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not registered for this service" in response.text


def test_an_unknown_service_gets_a_page_not_a_redirect(browser: httpx.Client, tenant: Any) -> None:
    response = browser.get("/t/acme/sso/token/launch?service=tks_nobody")

    assert response.status_code == 400 and "location" not in response.headers
    assert "There is no token service" in response.text


def test_a_lapsed_member_is_refused_by_the_access_policy_and_gets_no_token(
    ams: Any, tenant: Any, service: dict
) -> None:
    lapsed = ams_browser(ams, "lapsed.member@demo.test")

    response = launch(lapsed, service)

    assert response.status_code == 403 and "location" not in response.headers
    assert "Your membership has lapsed" in response.text


# --- the back channel -----------------------------------------------------------------------------------


def test_a_token_works_once(browser: httpx.Client, back_channel: httpx.Client, service: dict) -> None:
    token = token_from(launch(browser, service))

    assert validate(back_channel, service, token).status_code == 200
    assert_refused(validate(back_channel, service, token), 400, "used_token")


def test_a_token_dies_at_its_ttl_on_the_wall_clock(
    console: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    patched = console.patch(
        "/api/tenants/acme/settings", json={"sso": {"token_ttl_seconds": 1}}, headers=ADMIN
    )
    assert patched.status_code == 200
    token = token_from(launch(browser, service))

    time.sleep(1.2)

    assert_refused(validate(back_channel, service, token), 400, "expired_token")


def test_a_token_for_one_service_is_refused_to_another_and_stays_usable(
    console: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    other = register_service(console, "Other LMS")
    token = token_from(launch(browser, service))

    assert_refused(validate(back_channel, other, token), 403, "wrong_service")
    assert validate(back_channel, service, token).status_code == 200


def test_a_wrong_or_missing_credential_is_refused_and_the_token_stays_usable(
    browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    token = token_from(launch(browser, service))
    url = "/t/acme/sso/token/validate"

    wrong = back_channel.post(url, data={"token": token}, auth=(service["service_id"], "not-the-secret"))
    missing = back_channel.post(url, data={"token": token})

    assert_refused(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert_refused(missing, 401, "invalid_client")
    in_body = back_channel.post(
        url,
        json={"token": token, "client_id": service["service_id"], "client_secret": service["service_secret"]},
    )
    assert in_body.status_code == 200, in_body.text


def test_a_tampered_token_is_refused_and_the_real_one_still_works(
    browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    token = token_from(launch(browser, service))
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert_refused(validate(back_channel, service, tampered), 400, "invalid_token")
    assert_refused(validate(back_channel, service, ""), 400, "invalid_token")
    assert validate(back_channel, service, token).status_code == 200


def test_a_token_of_one_tenant_means_nothing_at_another(
    make_tenant: Any, console: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    make_tenant("beta")
    beta_service = register_service(console, tenant_id="beta")
    token = token_from(launch(browser, service))

    assert_refused(validate(back_channel, beta_service, token, tenant_id="beta"), 400, "invalid_token")


def test_release_rules_and_renames_match_saml_and_oidc(
    console: Any, browser: httpx.Client, back_channel: httpx.Client, tenant: Any
) -> None:
    console.patch(
        "/api/tenants/acme/settings",
        json={"sso": {"attribute_names": {"member_status": "urn:imis:MemberStatus"}}},
        headers=ADMIN,
    )
    narrow = register_service(console, "Narrow", attributes=["email", "member_status"])

    body = validate(back_channel, narrow, token_from(launch(browser, narrow))).json()

    assert set(body["attributes"]) == {"member_id", "email", "urn:imis:MemberStatus"}
    assert body["attributes"]["urn:imis:MemberStatus"] == "active"


def test_a_member_who_lapses_after_the_launch_is_reported_denied(
    ams: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    token = token_from(launch(browser, service))
    members = ams.get("/t/acme/api/members?limit=500", headers=ADMIN).get_json()["members"]
    member_id = next(m["member_id"] for m in members if m["email"] == "active.member@demo.test")
    lapsed = ams.patch(f"/t/acme/api/members/{member_id}", json={"status": "lapsed"}, headers=ADMIN)
    assert lapsed.status_code == 200, lapsed.get_json()

    body = validate(back_channel, service, token).json()

    assert body["member_id"] == member_id
    assert body["access_decision"]["allowed"] is False
    assert body["access_decision"]["access"] == "denied"
    assert body["attributes"]["access"] == "denied"


def test_profile_refresh_by_member_id_needs_the_credential(
    browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    member_id = validate(back_channel, service, token_from(launch(browser, service))).json()["member_id"]
    url = f"/t/acme/sso/token/members/{member_id}"

    refreshed = back_channel.get(url, auth=(service["service_id"], service["service_secret"]))
    anonymous = back_channel.get(url)
    unknown = back_channel.get(
        "/t/acme/sso/token/members/M999999", auth=(service["service_id"], service["service_secret"])
    )

    assert (
        refreshed.status_code == 200 and refreshed.json()["attributes"]["email"] == "active.member@demo.test"
    )
    assert_refused(anonymous, 401, "invalid_client")
    assert unknown.status_code == 404 and unknown.json()["code"] == "member_not_found"


# --- the journal ----------------------------------------------------------------------------------------


def test_redaction_covers_a_token_in_a_query_and_a_location() -> None:
    assert (
        redact_url("https://lms/land?token=abc123&target=%2Fme")
        == f"https://lms/land?token={REDACTED}&target=%2Fme"
    )


def test_tokens_and_secrets_never_reach_the_journal(
    console: Any, browser: httpx.Client, back_channel: httpx.Client, service: dict
) -> None:
    token = token_from(launch(browser, service))
    validate(back_channel, service, token)
    back_channel.post(
        "/t/acme/sso/token/validate",
        data={"token": token, "client_id": service["service_id"], "client_secret": service["service_secret"]},
    )

    entries = console.get("/api/tenants/acme/journal?limit=1000", headers=ADMIN).get_json()["entries"]
    journal = json.dumps(entries)

    legs = {(e["path"], e["status"]) for e in entries}
    assert ("/t/acme/sso/token/launch", 302) in legs
    assert ("/t/acme/sso/token/validate", 200) in legs and ("/t/acme/sso/token/validate", 400) in legs
    assert token not in journal
    assert service["service_secret"] not in journal
