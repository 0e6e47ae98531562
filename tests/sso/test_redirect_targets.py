"""Redirect targets a request names never lead out of the tenant (issue 19: ``/t/T/%2e%2e/U/me``).

A browser reads ``%2e%2e`` as ``..``, a backslash as ``/`` and drops tabs and newlines, so every target the
LMS (``return_to``, RelayState, the OIDC and token landings, logout) and the AMS (the login form's
``next``, registered return and post-logout URLs) accepts is checked as the browser will read it. Each
hostile form ends on the tenant's default page; legitimate paths keep working, normalised.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from simulator.core.local_redirects import remove_dot_segments, tenant_path
from simulator.lms.sso import token as token_handoff
from simulator.lms.sso.redirects import safe_return_path
from tests.conftest import ADMIN
from tests.sso.peers import PeerServer
from tests.sso.sp_support import TENANT, SamlWorld, patch_settings
from tests.sso.test_idp_oidc import AMS_URL, LOGOUT_REDIRECT, authorize, code_from, exchange, register_client

pytest_plugins = ["tests.sso.sp_fixtures"]

LMS_URL = "http://127.0.0.1:8002"

HOSTILE = [
    "/t/acme/%2e%2e/other/me",
    "/t/acme/%2E%2E/other/me",
    "/t/acme/.%2e/other/me",
    "/t/acme/%252e%252e/other/me",
    "/t/acme/%25252e%25252e/other/me",
    "/t/acme%2f..%2fother/me",
    "/t/acme/..%2Fother/me",
    "/t/acme/..%5cother/me",
    "/t/acme/..\\other/me",
    "/\\evil.example/t/acme/me",
    "//evil.example/t/acme/me",
    "https://evil.example/t/acme/me",
    "HTTPS://evil.example/t/acme/me",
    "javascript:alert(1)//t/acme/",
    "/t/acme/./../other/me",
    "/t/acme/../other/me",
    "/t/acme/../ACME/me",
    "/t/Acme/me",
    "/t/ACME/me",
    "/t/acme/.\t./other/me",
    "/t/acme/.\n./other/me",
    "/\t/evil.example/t/acme/",
    "/t/acme/%09/../../other/me",
    "/t/acme/%0a",
    "/t/acme//evil.example",
    "/t/acme",
    "/t/other/me",
    "t/acme/me",
    f"{LMS_URL}/t/acme/%2e%2e/other/me",
]
"""Each is refused for tenant ``acme``: it leaves the tenant, or reads differently to browser and server."""

KEPT = [
    ("/t/acme/learning", "/t/acme/learning"),
    ("/t/acme/courses/ETH-101?tab=2", "/t/acme/courses/ETH-101?tab=2"),
    ("/t/acme/courses/../learning", "/t/acme/learning"),
    ("/t/acme/./learning/", "/t/acme/learning/"),
    ("/t/acme/search?q=%2e%2e%2Fother", "/t/acme/search?q=%2e%2e%2Fother"),
    ("/t/acme/caf%C3%A9", "/t/acme/caf%C3%A9"),
    (f"{LMS_URL}/t/acme/learning", "/t/acme/learning"),
]
"""(target, the Location sent): the query is kept as it is, only the path is normalised."""


# --- the helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b/c/./../../g", "/a/g"),  # RFC 3986 §5.2.4's own example
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/../../a", "/a"),
        ("/a/b", "/a/b"),
    ],
)
def test_dot_segments_are_removed_as_rfc_3986_says(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected


@pytest.mark.parametrize("target", HOSTILE)
def test_a_hostile_return_to_falls_back_to_the_tenants_landing_page(target: str) -> None:
    assert safe_return_path("acme", target, LMS_URL) == "/t/acme/me"


@pytest.mark.parametrize(("target", "expected"), KEPT)
def test_a_path_of_the_tenant_is_kept_normalised(target: str, expected: str) -> None:
    assert safe_return_path("acme", target, LMS_URL) == expected


def test_the_length_bound_is_the_callers() -> None:
    long_query = "/t/acme/saml/sso?SAMLRequest=" + "A" * 4000

    assert safe_return_path("acme", long_query) == "/t/acme/me"
    assert tenant_path("acme", long_query) == long_query  # the AMS resumes long SAML requests
    assert tenant_path("acme", None) is None


# --- LMS: return_to through a SAML sign-in --------------------------------------------------------------


def saml_sign_in(world: SamlWorld, return_to: str) -> Any:
    request_id, params = world.start_login(return_to=return_to)
    response = world.post(world.idp.signed_response(world.spec(in_response_to=request_id)))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert params["RelayState"] == [response.headers["Location"]]
    return response


def fresh_browser(world: SamlWorld) -> SamlWorld:
    """The same tenant and IdP, seen from a new browser (no cookies)."""
    return dataclasses.replace(world, lms=world.lms.application.test_client())


def test_a_saml_sign_in_with_a_hostile_return_to_lands_on_me(saml_world: SamlWorld) -> None:
    landed = {}
    for target in HOSTILE:
        browser = fresh_browser(saml_world)
        location = saml_sign_in(browser, target).headers["Location"]
        landed[target] = (location, browser.me().status_code)

    assert landed == {target: ("/t/acme/me", 200) for target in HOSTILE}


def test_a_saml_sign_in_keeps_a_return_to_of_the_tenant(saml_world: SamlWorld) -> None:
    kept = {target: saml_sign_in(fresh_browser(saml_world), target).headers["Location"] for target, _ in KEPT}

    assert kept == dict(KEPT)


HOSTILE_RELAY_STATES = [
    "/t/acme/%2e%2e/other/me",
    "/t/acme/%252e%252e/other/me",
    "/t/acme%2f..%2fother/me",
    "/t/acme/..\\other/me",
    "/t/acme/.\t./other/me",
    f"{LMS_URL}/t/acme/%2E%2E/other/me",
]


def test_a_hostile_relay_state_of_an_unsolicited_response_lands_on_me(saml_world: SamlWorld) -> None:
    landed = {}
    for relay_state in HOSTILE_RELAY_STATES:
        response = saml_world.post(saml_world.idp.signed_response(saml_world.spec()), relay_state=relay_state)
        landed[relay_state] = (response.status_code, response.headers.get("Location"))

    assert landed == {relay_state: (302, "/t/acme/me") for relay_state in HOSTILE_RELAY_STATES}


def test_an_unsolicited_response_follows_a_relay_state_of_the_tenant_normalised(
    saml_world: SamlWorld,
) -> None:
    relay_state = "/t/acme/courses/../courses/ETH-101?tab=2"

    response = saml_world.post(saml_world.idp.signed_response(saml_world.spec()), relay_state=relay_state)

    assert response.headers["Location"] == "/t/acme/courses/ETH-101?tab=2"


# --- LMS: the OIDC callback and the token landing -------------------------------------------------------


@pytest.fixture
def oidc_tenant(lms: Any, console: Any, make_tenant: Any, peers: PeerServer) -> PeerServer:
    make_tenant(TENANT)
    patch_settings(
        console, TENANT, {"sso": {"protocol": "oidc", "oidc_discovery_url": peers.op.discovery_url}}
    )
    peers.op.claims = {"member_id": "M1001", "member_status": "active", "record_type": "member"}
    return peers


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/t/acme/%2e%2e/other/me", "/t/acme/me"),
        ("/t/acme/%252e%252e/other/me", "/t/acme/me"),
        ("/t/acme/..\\other/me", "/t/acme/me"),
        ("//evil.example/", "/t/acme/me"),
        ("/t/acme/courses/ETH-101?tab=2", "/t/acme/courses/ETH-101?tab=2"),
    ],
)
def test_the_oidc_callback_lands_inside_the_tenant(
    lms: Any, oidc_tenant: PeerServer, target: str, expected: str
) -> None:
    start = lms.get(f"/t/{TENANT}/login", query_string={"return_to": target})
    assert start.status_code == 302, start.get_data(as_text=True)
    answer = httpx.get(start.headers["Location"], follow_redirects=False)
    callback = urlsplit(answer.headers["Location"])

    response = lms.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == expected


@pytest.mark.parametrize(
    ("token_target", "query_target", "expected"),
    [
        ("/t/acme/%2e%2e/other/me", None, "/t/acme/me"),
        (None, "/t/acme/%2E%2E/other/me", "/t/acme/me"),
        (None, "/\\evil.example", "/t/acme/me"),
        ("/t/acme/learning/../courses", None, "/t/acme/courses"),
        (None, "/t/acme/learning", "/t/acme/learning"),
    ],
)
def test_the_token_landing_lands_inside_the_tenant(
    lms: Any,
    console: Any,
    make_tenant: Any,
    monkeypatch: pytest.MonkeyPatch,
    token_target: str | None,
    query_target: str | None,
    expected: str,
) -> None:
    make_tenant(TENANT)
    patch_settings(console, TENANT, {"sso": {"protocol": "token"}})
    attributes = {"member_id": "M1001", "member_status": "active", "record_type": "member"}
    redeemed = token_handoff.RedeemedToken("M1001", attributes, token_target)
    monkeypatch.setattr(token_handoff, "redeem", lambda *_: redeemed)
    query = {"token": "one-time", **({"target": query_target} if query_target else {})}

    response = lms.get(f"/t/{TENANT}/sso/token/landing", query_string=query)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == expected


# --- LMS: logout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/t/acme/%2e%2e/other/me", "//evil.example/", "https://evil.example/"])
def test_logout_goes_nowhere_a_request_names(saml_world: SamlWorld, target: str) -> None:
    back = saml_world.lms.post("/t/acme/logout", data={"RelayState": target, "return_to": target})
    assert back.status_code == 200 and "Location" not in back.headers

    assert saml_world.post(saml_world.idp.signed_response(saml_world.spec())).status_code == 302
    out = saml_world.lms.get("/t/acme/logout", query_string={"return_to": target, "RelayState": target})

    assert out.status_code == 302
    location = urlsplit(out.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == saml_world.idp.sso_url + "/slo"
    assert parse_qs(location.query)["RelayState"] == [f"{saml_world.config.lms_url}/t/acme/logout"]


# --- AMS: the login form's next -------------------------------------------------------------------------


@pytest.fixture
def ams_tenant(make_tenant: Any) -> None:
    make_tenant("acme")


def sign_in_at_the_ams(ams: Any, next_url: str) -> Any:
    form = {"email": "active.member@demo.test", "password": "demo", "next": next_url}
    return ams.post("/t/acme/login", data=form)


def test_a_hostile_next_after_the_ams_login_goes_to_the_tenants_home(ams: Any, ams_tenant: None) -> None:
    offered, landed = {}, {}
    for next_url in HOSTILE:
        browser = ams.application.test_client()
        page = browser.get("/t/acme/login", query_string={"next": next_url}).get_data(as_text=True)
        offered[next_url] = 'name="next" value="/t/acme/login/done"' in page
        response = sign_in_at_the_ams(browser, next_url)
        landed[next_url] = (response.status_code, response.headers.get("Location"))

    assert offered == dict.fromkeys(HOSTILE, True)
    assert landed == dict.fromkeys(HOSTILE, (303, "/t/acme/login/done"))


KEPT_NEXT = {
    "/t/acme/store": "/t/acme/store",
    "/t/acme/store/../login/done": "/t/acme/login/done",
    "/t/acme/store?page=2": "/t/acme/store?page=2",
}


def test_a_next_of_the_tenant_is_followed_normalised(ams: Any, ams_tenant: None) -> None:
    landed = {}
    for next_url in KEPT_NEXT:
        response = sign_in_at_the_ams(ams.application.test_client(), next_url)
        landed[next_url] = (response.status_code, response.headers.get("Location"))

    assert landed == {next_url: (303, expected) for next_url, expected in KEPT_NEXT.items()}


def test_a_pending_sign_on_of_another_tenant_is_not_continued_in_place(
    ams: Any, make_tenant: Any, ams_tenant: None
) -> None:
    make_tenant("other")
    query = urlencode(
        {"response_type": "code", "client_id": "x", "redirect_uri": "https://rp.example.org/cb"}
    )

    response = sign_in_at_the_ams(ams, f"/t/acme/%2e%2e/other/oidc/authorize?{query}")

    assert response.status_code == 303
    assert response.headers["Location"] == "/t/acme/login/done"


# --- AMS: registered return and post-logout URLs are matched exactly ------------------------------------


@pytest.fixture
def oidc_browser(ams: Any, make_tenant: Any) -> httpx.Client:
    make_tenant("acme")
    client = httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)
    signed_in = client.post("/t/acme/login", data={"email": "active.member@demo.test", "password": "demo"})
    assert signed_in.status_code == 303
    return client


NOT_THE_REGISTERED_LOGOUT_URI = [
    f"{LOGOUT_REDIRECT}/../../evil",
    f"{LOGOUT_REDIRECT}/%2e%2e/%2e%2e/evil",
    f"{LOGOUT_REDIRECT}%2f..%2f..%2fevil",
    LOGOUT_REDIRECT.replace("rp.example.org", "rp.example.org%2f@evil.example"),
    LOGOUT_REDIRECT.replace("https://rp.", "https://RP."),
    LOGOUT_REDIRECT.replace("signed-out", "signed%2Dout"),
    f"{LOGOUT_REDIRECT}\t",
    f"{LOGOUT_REDIRECT}/",
    f"{LOGOUT_REDIRECT}?next=https://evil.example/",
    LOGOUT_REDIRECT.replace(":", "%3A"),
]


def test_a_post_logout_redirect_uri_is_followed_only_when_it_is_the_registered_one(
    oidc_browser: httpx.Client, console: Any
) -> None:
    client = register_client(console)
    response = authorize(oidc_browser, client["client_id"])
    tokens = exchange(oidc_browser, client, code_from(response), response.extensions["code_verifier"])
    hint = tokens.json()["id_token"]

    def log_out(uri: str) -> httpx.Response:
        query = urlencode({"id_token_hint": hint, "post_logout_redirect_uri": uri})
        return oidc_browser.get(f"/t/acme/oidc/logout?{query}")

    refused = {}
    for uri in NOT_THE_REGISTERED_LOGOUT_URI:
        answer = log_out(uri)
        refused[uri] = (answer.status_code, answer.headers.get("Location"))
    followed = log_out(LOGOUT_REDIRECT)

    assert refused == dict.fromkeys(NOT_THE_REGISTERED_LOGOUT_URI, (200, None))
    assert followed.status_code == 302 and followed.headers["Location"] == LOGOUT_REDIRECT


NOT_ALLOW_LISTED = [
    "https://lms.example.org/sso/return/../../evil",
    "https://lms.example.org/sso/%2e%2e/%2e%2e/evil",
    "https://lms.example.org/sso/RETURN",
    "https://lms.example.org%2f@evil.example/sso/return",
    "https://lms.example.org/sso/return\n",
]


def test_a_token_return_url_is_followed_only_when_it_is_allow_listed_exactly(
    oidc_browser: httpx.Client, console: Any
) -> None:
    allowed = "https://lms.example.org/sso/return"
    body = {
        "name": "LMS",
        "landing_url": "https://lms.example.org/sso/landing",
        "return_url_allowlist": [allowed],
    }
    service = console.post("/api/tenants/acme/token-services", json=body, headers=ADMIN)
    assert service.status_code == 201, service.get_json()
    service_id = service.get_json()["service_id"]

    def authorize_with(url: str) -> httpx.Response:
        return oidc_browser.get(
            "/t/acme/sso/token/authorize", params={"service": service_id, "return_url": url}
        )

    refused = {}
    for url in NOT_ALLOW_LISTED:
        answer = authorize_with(url)
        refused[url] = (answer.status_code, answer.headers.get("location"))
    followed = authorize_with(allowed)

    assert refused == dict.fromkeys(NOT_ALLOW_LISTED, (400, None))
    assert followed.status_code == 302
    assert followed.headers["Location"].startswith(f"{allowed}?token=")
