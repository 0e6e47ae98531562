"""The login form served at the sign-on URL, and its POST answering with the protocol response in place.

With nobody signed in, SAML SSO, OIDC authorize and the token hand-off answer with the AMS login form
(``next`` = their own URL); a good password there answers with exactly what ``GET next`` would answer
for the member just signed in — no 303 back to the sign-on URL — with the login cookie on it.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from simulator.ams.idp.testing import SamlTestSp, form_fields
from tests.conftest import ADMIN
from tests.sso.test_idp_oidc import (
    REDIRECT,
    authorize,
    code_from,
    exchange,
    register_client,
    verify_with_pyjwt,
)
from tests.sso.test_idp_saml import ACS, AMS_URL, MAIL, idp_certificates, register
from tests.sso.test_signed_requests import signed_redirect_query, signing_sp
from tests.sso.test_token_handoff import LANDING, RETURN_URL, launch, register_service, token_from, validate

COOKIE = "ams_login_acme"
LOGIN_ACTION = "/t/acme/login"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


@pytest.fixture
def sp(console: Any, tenant: Any) -> SamlTestSp:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    register(console, sp, sign="assertion")
    return sp


def saml_sso_url(sp: SamlTestSp, relay_state: str = "course-42") -> tuple[str, str]:
    request_id, saml_request = sp.authn_request(deflate=True)
    return (
        request_id,
        f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request, 'RelayState': relay_state})}",
    )


def login_form(page: Any) -> dict[str, str]:
    """The hidden fields of the AMS login form on ``page`` (which must be that form, served in place)."""
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "Location" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"
    action, fields = form_fields(page.get_data(as_text=True))
    assert action == LOGIN_ACTION
    return fields


def submit(
    ams: Any, fields: dict[str, str], password: str = "demo", email: str = "active.member@demo.test"
) -> Any:
    return ams.post(LOGIN_ACTION, data={**fields, "email": email, "password": password})


def sets_login_cookie(response: Any) -> bool:
    return any(
        value.startswith(f"{COOKIE}=") and "Expires=Thu, 01 Jan 1970" not in value
        for value in response.headers.getlist("Set-Cookie")
    )


def clears_login_cookie(response: Any) -> bool:
    return any(
        value.startswith(f"{COOKIE}=;") and "Expires=Thu, 01 Jan 1970" in value
        for value in response.headers.getlist("Set-Cookie")
    )


def journal(console: Any) -> list[tuple[str, str, int]]:
    entries = console.get("/api/tenants/acme/journal?limit=100", headers=ADMIN).get_json()["entries"]
    return sorted((entry["method"], entry["path"], entry["status"]) for entry in entries)


# --- SAML -----------------------------------------------------------------------------------------------


def test_saml_sso_without_a_sign_in_answers_with_the_login_form(ams: Any, sp: SamlTestSp) -> None:
    _, url = saml_sso_url(sp)

    page = ams.get(url)

    fields = login_form(page)
    assert fields["next"] == url
    assert sp.settings["sp"]["entityId"] in page.get_data(as_text=True)  # "to continue to …"
    assert not sets_login_cookie(page)


def test_the_login_post_answers_with_the_saml_response(ams: Any, console: Any, sp: SamlTestSp) -> None:
    request_id, url = saml_sso_url(sp)
    fields = login_form(ams.get(url))

    answered = submit(ams, fields)

    assert answered.status_code == 200
    action, posted = form_fields(answered.get_data(as_text=True))
    assert action == ACS
    assert posted["RelayState"] == "course-42"
    assert sp.validate(posted["SAMLResponse"], request_id).get_attributes()[MAIL] == [
        "active.member@demo.test"
    ]
    assert sets_login_cookie(answered)
    _, again = saml_sso_url(sp)
    assert form_fields(ams.get(again).get_data(as_text=True))[0] == ACS  # the cookie signs the next one in
    assert journal(console) == [
        ("GET", "/t/acme/saml/sso", 200),
        ("GET", "/t/acme/saml/sso", 200),
        ("POST", "/t/acme/login", 200),
    ]


def test_a_signed_redirect_request_is_verified_again_when_the_login_post_continues_it(
    ams: Any, console: Any, tenant: Any
) -> None:
    sp = signing_sp(console)
    register(console, sp, sign="assertion")
    url = f"/t/acme/saml/sso?{signed_redirect_query(sp)}"
    fields = login_form(ams.get(url))
    assert fields["next"] == url  # the exact octets the signature covers

    answered = submit(ams, fields)

    assert answered.status_code == 200, answered.get_data(as_text=True)
    action, posted = form_fields(answered.get_data(as_text=True))
    assert action == "https://sp.example.org/acs"
    assert posted["RelayState"] == "course-42"


def test_a_post_binding_request_is_continued_by_the_login_post(ams: Any, sp: SamlTestSp) -> None:
    request_id, saml_request = sp.authn_request(deflate=False)
    fields = login_form(ams.post("/t/acme/saml/sso", data={"SAMLRequest": saml_request, "RelayState": "x"}))

    answered = submit(ams, fields)

    _, posted = form_fields(answered.get_data(as_text=True))
    sp.validate(posted["SAMLResponse"], request_id)
    assert posted["RelayState"] == "x"


def test_idp_initiated_sso_is_continued_by_the_login_post(ams: Any, sp: SamlTestSp) -> None:
    query = urlencode({"sp": sp.settings["sp"]["entityId"], "RelayState": "/courses/1"})
    fields = login_form(ams.get(f"/t/acme/saml/idp-initiated?{query}"))

    answered = submit(ams, fields)

    action, posted = form_fields(answered.get_data(as_text=True))
    assert (action, posted["RelayState"]) == (ACS, "/courses/1")
    sp.validate(posted["SAMLResponse"], None)


def test_a_wrong_password_shows_the_form_again_and_continues_nothing(
    ams: Any, console: Any, sp: SamlTestSp
) -> None:
    _, url = saml_sso_url(sp)
    fields = login_form(ams.get(url))

    refused = submit(ams, fields, password="wrong")

    assert refused.status_code == 401
    text = refused.get_data(as_text=True)
    assert "do not match our records" in text
    assert "SAMLResponse" not in text
    assert form_fields(text)[1]["next"] == url
    assert not refused.headers.getlist("Set-Cookie")
    assert journal(console) == [("GET", "/t/acme/saml/sso", 200), ("POST", "/t/acme/login", 401)]


def test_an_sp_deleted_between_the_form_and_the_post_gets_the_refusal_page(
    ams: Any, console: Any, tenant: Any
) -> None:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    registered = register(console, sp)
    _, url = saml_sso_url(sp)
    fields = login_form(ams.get(url))
    console.delete(f"/api/tenants/acme/saml/service-providers/{registered['id']}", headers=ADMIN)

    refused = submit(ams, fields)

    assert refused.status_code == 403
    assert "Location" not in refused.headers
    assert "SAMLResponse" not in refused.get_data(as_text=True)
    assert refused.get_data(as_text=True) == ams.get(url).get_data(as_text=True)  # as GET next answers


def test_a_member_denied_access_gets_the_access_denied_page_from_the_post(ams: Any, sp: SamlTestSp) -> None:
    _, url = saml_sso_url(sp)
    fields = login_form(ams.get(url))

    denied = submit(ams, fields, email="lapsed.member@demo.test")

    assert denied.status_code == 403
    text = denied.get_data(as_text=True)
    assert "Access denied" in text and "SAMLResponse" not in text
    assert sets_login_cookie(denied)  # the password was right: the sign-in stands


def sign_on_url(protocol: str, console: Any, sp: SamlTestSp) -> str:
    """A sign-on URL of ``protocol`` that a signed-in, allowed member would be answered at."""
    if protocol == "saml":
        return saml_sso_url(sp)[1]
    if protocol == "oidc":
        client = register_client(console)
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "st-1",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
        return f"/t/acme/oidc/authorize?{urlencode(query)}"
    return f"/t/acme/sso/token/launch?{urlencode({'service': register_service(console)['service_id']})}"


@pytest.mark.parametrize("protocol", ["saml", "oidc", "token"])
def test_a_cookie_naming_a_deactivated_member_is_cleared_and_the_form_served(
    ams: Any, console: Any, tenant: Any, sp: SamlTestSp, protocol: str
) -> None:
    assert submit(ams, {}, email="student@demo.test").status_code == 303
    member_id = ams.get("/t/acme/api/members?email=student@demo.test", headers=tenant.auth).get_json()[
        "members"
    ][0]["member_id"]
    assert ams.post(f"/t/acme/api/members/{member_id}/deactivate", headers=tenant.auth).status_code == 200
    url = sign_on_url(protocol, console, sp)

    page = ams.get(url)

    assert login_form(page)["next"] == url
    assert clears_login_cookie(page)
    answered = submit(ams, login_form(page))  # another member signs in at the same form
    assert answered.status_code == {"saml": 200, "oidc": 302, "token": 302}[protocol]
    assert sets_login_cookie(answered)


# --- what stays a redirect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "/t/acme/login/done",
        "/t/acme/store",
        "/t/acme/saml/slo",  # a sign-on-adjacent view outside the allow-list is never run in place
        "/t/acme/oidc/token",  # POST only
        "/t/acme/no/such/page",
    ],
)
def test_a_next_outside_the_sign_on_views_is_still_a_303(ams: Any, tenant: Any, next_url: str) -> None:
    response = submit(ams, {"next": next_url})

    assert response.status_code == 303
    assert response.headers["Location"] == next_url
    assert sets_login_cookie(response)


def test_the_standalone_login_page_still_works(ams: Any, sp: SamlTestSp) -> None:
    _, url = saml_sso_url(sp)

    page = ams.get(f"/t/acme/login?{urlencode({'next': url, 'requester': 'Some SP'})}")

    assert login_form(page)["next"] == url
    assert "Some SP" in page.get_data(as_text=True)


# --- OIDC -----------------------------------------------------------------------------------------------


@pytest.fixture
def anonymous(ams: Any, tenant: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)


def test_oidc_authorize_serves_the_form_and_the_post_redirects_to_the_client(
    anonymous: httpx.Client, console: Any
) -> None:
    client = register_client(console)
    before = int(time.time())
    page = authorize(anonymous, client["client_id"])
    assert page.status_code == 200 and "location" not in page.headers
    action, fields = form_fields(page.text)
    assert action == LOGIN_ACTION
    assert urlsplit(fields["next"]).path == "/t/acme/oidc/authorize"
    assert "Test RP" in page.text

    answered = anonymous.post(action, data={**fields, "email": "active.member@demo.test", "password": "demo"})

    assert COOKIE in answered.cookies
    tokens = exchange(anonymous, client, code_from(answered), page.extensions["code_verifier"]).json()
    claims = verify_with_pyjwt(anonymous, tokens["id_token"], client["client_id"])
    assert before <= claims["auth_time"] <= int(time.time())
    again = authorize(anonymous, client["client_id"])  # now from the cookie alone
    later = exchange(anonymous, client, code_from(again), again.extensions["code_verifier"]).json()
    assert (
        verify_with_pyjwt(anonymous, later["id_token"], client["client_id"])["auth_time"]
        == claims["auth_time"]
    )


def test_an_oauth_error_found_by_the_continued_authorize_goes_back_to_the_client(
    ams: Any, tenant: Any, console: Any
) -> None:
    client = register_client(console)
    first, second = (
        httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL) for _ in range(2)
    )
    forms = [
        form_fields(authorize(browser, client["client_id"], nonce="same").text) for browser in (first, second)
    ]
    credentials = {"email": "active.member@demo.test", "password": "demo"}
    code_from(first.post(forms[0][0], data={**forms[0][1], **credentials}))

    replay = second.post(forms[1][0], data={**forms[1][1], **credentials})

    assert replay.status_code == 302
    location = urlsplit(replay.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert parse_qs(location.query)["error"] == ["invalid_request"]


# --- token hand-off -------------------------------------------------------------------------------------


@pytest.fixture
def service(console: Any, tenant: Any) -> dict:
    return register_service(console)


def test_token_launch_is_continued_by_the_login_post(
    anonymous: httpx.Client, console: Any, ams: Any, service: dict
) -> None:
    back_channel = httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)
    page = launch(anonymous, service)
    assert page.status_code == 200 and "Test LMS" in page.text
    action, fields = form_fields(page.text)

    answered = anonymous.post(action, data={**fields, "email": "student@demo.test", "password": "demo"})

    token = token_from(answered)
    assert answered.headers["location"].startswith(LANDING + "?token=")
    assert COOKIE in answered.cookies
    assert validate(back_channel, service, token).json()["attributes"]["email"] == "student@demo.test"
    entries = console.get("/api/tenants/acme/journal?limit=100", headers=ADMIN).get_json()["entries"]
    assert token not in json.dumps(entries)


def test_token_authorize_is_continued_by_the_login_post(anonymous: httpx.Client, service: dict) -> None:
    page = anonymous.get(
        "/t/acme/sso/token/authorize",
        params={"service": service["service_id"], "return_url": RETURN_URL, "target": "/t/acme/me"},
    )
    action, fields = form_fields(page.text)
    assert urlsplit(fields["next"]).path == "/t/acme/sso/token/authorize"

    answered = anonymous.post(action, data={**fields, "email": "student@demo.test", "password": "demo"})

    assert answered.status_code == 302
    assert answered.headers["location"].startswith(RETURN_URL + "?token=")
    assert parse_qs(urlsplit(answered.headers["location"]).query)["target"] == ["/t/acme/me"]
