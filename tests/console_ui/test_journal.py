"""The request journal pages: the list (newest first, filters, live tail) and one entry with its SAML
messages and JWTs decoded, driven by real SAML and OIDC traffic through the AMS and LMS test clients."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from simulator.ams.idp.testing import SamlTestSp, form_fields
from simulator.console.journal_api import JournalEntryDecoded
from tests.conftest import ADMIN
from tests.console_ui.conftest import UiSession, text_of

AMS_URL = "http://127.0.0.1:8001"
SP_ENTITY = "https://sp.example.org/metadata"
ROW = re.compile(r'<tr data-id="(\d+)">')
REDIRECT = "https://rp.example.org/callback"


def b64url(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def entries(console: Any, tenant: str = "acme", **params: Any) -> list[dict[str, Any]]:
    response = console.get(f"/api/tenants/{tenant}/journal", query_string=params, headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["entries"]


def entry_with(console: Any, path: str, method: str = "GET") -> dict[str, Any]:
    """The newest journal entry of ``method path`` in tenant acme."""
    found = [e for e in entries(console, limit=1000) if e["path"] == path and e["method"] == method]
    assert found, f"no journal entry for {method} {path}"
    return found[-1]


def row_ids(html: str) -> list[int]:
    return [int(n) for n in ROW.findall(html)]


def saml_sign_in(console: Any, ams: Any) -> tuple[SamlTestSp, str, dict[str, str]]:
    """An SP-initiated SAML sign-in (HTTP-Redirect request, POST response) as a browser makes it."""
    keys = console.get("/api/tenants/acme/keys", headers=ADMIN).get_json()["keys"]
    certificates = [
        "".join(line for line in key["certificate_pem"].splitlines() if "-----" not in line)
        for key in keys
        if key["state"] in ("active", "previous")
    ]
    sp = SamlTestSp.create(AMS_URL, "acme", certificates)
    registered = console.post(
        "/api/tenants/acme/saml/service-providers",
        json={"metadata_xml": sp.metadata(), "sign": "assertion"},
        headers=ADMIN,
    )
    assert registered.status_code == 201, registered.get_json()
    request_id, saml_request = sp.authn_request(deflate=True)
    first = ams.get(f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request, 'RelayState': 'course-42'})}")
    action, login_fields = form_fields(first.get_data(as_text=True))
    login = {"email": "active.member@demo.test", "password": "demo", **login_fields}
    page = ams.post(action, data=login)
    assert page.status_code == 200
    _, fields = form_fields(page.get_data(as_text=True))
    return sp, request_id, fields


# --- the list --------------------------------------------------------------------------------------------


def test_the_journal_lists_the_newest_first_and_filters_like_the_api(
    ui: UiSession, make_tenant: Any, ams: Any, lms: Any, console: Any
) -> None:
    make_tenant("acme")
    rule = console.post(
        "/api/tenants/acme/faults",
        json={"name": "inbox down", "path": "/broken", "status": 503},
        headers=ADMIN,
    ).get_json()
    ams.get("/t/acme/api/members")
    lms.get("/t/acme/courses/1")
    lms.post("/t/acme/courses/2")
    lms.get("/t/acme/broken")
    stored = entries(console)

    page = ui.page("/tenants/acme/journal")

    assert page.status_code == 200
    assert row_ids(page.text) == [e["id"] for e in reversed(stored)]
    shown = text_of(page.text)
    assert (
        shown.index("/t/acme/broken") < shown.index("/t/acme/courses/2") < shown.index("/t/acme/api/members")
    )
    assert f"yes: rule {rule['id']} “inbox down”, status 503" in shown
    assert f'data-since="{stored[-1]["id"]}"' in page.text
    assert f'href="/tenants/acme/journal/{stored[0]["id"]}"' in page.text

    def paths(**filters: str) -> list[str]:
        html = ui.page("/tenants/acme/journal", query_string=filters).text
        return [e["path"] for e in stored[::-1] if e["id"] in row_ids(html)]

    assert paths(app="ams") == ["/t/acme/api/members"]
    assert paths(method="POST") == ["/t/acme/courses/2"]
    assert paths(path="/courses/*") == ["/t/acme/courses/2", "/t/acme/courses/1"]
    assert paths(status="503") == paths(fault_fired="on") == ["/t/acme/broken"]
    assert [e["path"] for e in entries(console, fault_fired="true")] == ["/t/acme/broken"]
    assert [e["path"] for e in entries(console, fault_fired="false")][-1] == "/t/acme/courses/2"
    faulted = html.unescape(text_of(ui.page(f"/tenants/acme/journal/{stored[-1]['id']}").text))
    assert (
        f"The fault that fired Rule rule {rule['id']} “inbox down” Kind respond Effect status 503" in faulted
    )
    assert '"path": "/broken"' in faulted and "Status 503" in faulted
    filtered = ui.page("/tenants/acme/journal?app=lms&fault_fired=true").text
    assert 'data-live-tail="/tenants/acme/journal/rows?app=lms&amp;fault_fired=true"' in filtered
    assert (
        'id="f-fault_fired" name="fault_fired" type="checkbox" value="true"\n           checked' in filtered
    )


def test_a_filter_that_is_not_valid_is_explained_next_to_its_field(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")

    page = ui.page("/tenants/acme/journal?status=99&app=ams")

    assert page.status_code == 422
    assert 'aria-invalid="true" aria-describedby="e-status"' in page.text
    assert "greater than or equal to 100" in text_of(page.text)
    assert "data-live-tail" not in page.text and row_ids(page.text) == []


def test_the_live_tail_answers_only_rows_newer_than_since_newest_first(
    ui: UiSession, make_tenant: Any, ams: Any, lms: Any, console: Any
) -> None:
    make_tenant("acme")
    lms.get("/t/acme/before")
    since = entries(console)[-1]["id"]
    lms.get("/t/acme/after/1")
    ams.get("/t/acme/after/2")
    lms.get("/t/acme/after/3")
    newer = [e for e in entries(console) if e["id"] > since]

    rows = ui.page(f"/tenants/acme/journal/rows?since={since}")

    assert rows.status_code == 200
    assert row_ids(rows.text) == [e["id"] for e in reversed(newer)]
    assert "<table" not in rows.text and "/t/acme/before" not in rows.text
    only_lms = ui.page(f"/tenants/acme/journal/rows?since={since}&app=lms").text
    assert row_ids(only_lms) == [newer[2]["id"], newer[0]["id"]]
    assert row_ids(ui.page(f"/tenants/acme/journal/rows?since={newer[-1]['id']}").text) == []
    assert ui.page("/tenants/acme/journal/rows?since=-1").status_code == 422


# --- decoded SSO messages --------------------------------------------------------------------------------


def test_a_saml_sign_in_is_decoded_on_the_entry_page_and_by_the_api(
    ui: UiSession, make_tenant: Any, ams: Any, lms: Any, console: Any
) -> None:
    make_tenant("acme")
    sp, request_id, fields = saml_sign_in(console, ams)
    checked = sp.validate(fields["SAMLResponse"], request_id)  # what an independent SP reads
    lms.post("/t/acme/saml/acs", data=fields)

    request_entry = entry_with(console, "/t/acme/saml/sso")
    page = text_of(ui.page(f"/tenants/acme/journal/{request_entry['id']}").text)
    assert "SAMLRequest in the query string (HTTP-Redirect binding)" in page
    assert f"Message AuthnRequest ID {request_id}" in page
    assert f"Issuer {SP_ENTITY}" in page and "RelayState course-42" in page
    assert "AssertionConsumerServiceURL https://sp.example.org/acs" in page

    login = entry_with(console, "/t/acme/login", "POST")
    api = console.get(f"/api/tenants/acme/journal/{login['id']}", headers=ADMIN).get_json()
    assert JournalEntryDecoded.model_validate(api).model_dump() == api  # as the API documents it
    [message] = api["decoded"]["saml"]
    assert (message["source"], message["binding"], message["error"]) == (
        "the response page's form",
        "HTTP-POST",
        None,
    )
    summary = message["summary"]
    [assertion] = summary["assertions"]
    assert summary["message_type"] == "Response" and summary["in_response_to"] == request_id
    assert summary["status_codes"] == ["urn:oasis:names:tc:SAML:2.0:status:Success"]
    assert assertion["issuer"] == f"{AMS_URL}/t/acme/saml/metadata"
    assert assertion["name_id"] == checked.get_nameid()
    assert assertion["conditions"]["audiences"] == [SP_ENTITY] == checked.get_audiences()
    attributes = {a["name"]: a["values"] for a in assertion["attributes"]}
    assert attributes == checked.get_attributes()
    [signature] = summary["signatures"]
    assert signature["signs"] == "Assertion" and signature["reference_uri"] == f"#{assertion['id']}"
    assert signature["reference_matches"] is True and signature["value"] == "redacted in the journal"
    assert signature["certificate"]["subject"]

    shown = text_of(ui.page(f"/tenants/acme/journal/{login['id']}").text)
    assert f"Issuer {AMS_URL}/t/acme/saml/metadata" in shown
    assert f"Subject NameID {checked.get_nameid()}" in shown and f"Audience {SP_ENTITY}" in shown
    assert f"Assertion {assertion['id']} #{assertion['id']} matches the element's ID" in shown
    assert "signature value redacted in the journal" in shown
    assert "active.member@demo.test" in shown  # the mail attribute
    xml = html.unescape(ui.page(f"/tenants/acme/journal/{login['id']}").text)
    assert f'<ds:Reference URI="#{assertion["id"]}">' in xml and "<ds:SignatureValue>[redacted]<" in xml

    acs = entry_with(console, "/t/acme/saml/acs", "POST")
    assert len(acs["request_body"]) > 4096  # kept whole: the default body limit would cut it short
    posted = console.get(f"/api/tenants/acme/journal/{acs['id']}", headers=ADMIN).get_json()["decoded"]
    assert posted["saml"][0]["source"] == "the request body"
    assert posted["saml"][0]["summary"] == summary


def test_the_token_response_s_id_token_is_decoded_with_dates(
    ui: UiSession, make_tenant: Any, ams: Any, console: Any
) -> None:
    make_tenant("acme")
    client = console.post(
        "/api/tenants/acme/oidc/clients",
        json={"client_name": "RP", "redirect_uris": [REDIRECT]},
        headers=ADMIN,
    ).get_json()
    assert (
        ams.post("/t/acme/login", data={"email": "active.member@demo.test", "password": "demo"}).status_code
        == 303
    )
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorize = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    redirected = ams.get(f"/t/acme/oidc/authorize?{urlencode(authorize)}")
    code = parse_qs(urlsplit(redirected.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    token = ams.post(
        "/t/acme/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200, token.get_json()
    claims = json.loads(base64.urlsafe_b64decode(token.get_json()["id_token"].split(".")[1] + "=="))

    entry = entry_with(console, "/t/acme/oidc/token", "POST")
    api = console.get(f"/api/tenants/acme/journal/{entry['id']}", headers=ADMIN).get_json()
    assert JournalEntryDecoded.model_validate(api).model_dump() == api
    decoded = api["decoded"]
    [id_token] = [jwt for jwt in decoded["jwts"] if jwt["source"] == "the response body, field id_token"]
    assert id_token["claims"] == claims and id_token["signature"] == "redacted in the journal"
    assert client["client_id"] in id_token["claims"]["aud"]
    exp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(claims["exp"]))
    assert id_token["times"]["exp"] == exp and id_token["expired_at_request"] is False
    page = ui.page(f"/tenants/acme/journal/{entry['id']}")
    shown = text_of(page.text)
    assert "JWS in the response body, field id_token" in shown
    assert f"exp {exp} ({claims['exp']})" in shown and "Signature redacted in the journal" in shown
    assert f"&#34;sub&#34;: &#34;{claims['sub']}&#34;" in page.text
    assert client["client_secret"] not in page.text and token.get_json()["id_token"] not in page.text


def test_a_jwt_that_expired_before_the_request_says_so(
    ui: UiSession, make_tenant: Any, ams: Any, console: Any
) -> None:
    make_tenant("acme")
    assertion = f"{b64url({'alg': 'RS256', 'kid': 'k1'})}.{b64url({'iss': 'rp', 'exp': 1_600_000_000})}.c2ln"
    ams.post("/t/acme/oidc/token", data={"grant_type": "client_credentials", "client_assertion": assertion})

    entry = entry_with(console, "/t/acme/oidc/token", "POST")
    shown = text_of(ui.page(f"/tenants/acme/journal/{entry['id']}").text)

    assert "JWS in the request body, field client_assertion" in shown
    assert "Expired at the time of the request." in shown and "exp 2020-09-13T12:26:40+00:00" in shown


def hostile_requests(lms: Any, ams: Any) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>'
    )
    lms.post("/t/acme/saml/acs", data={"SAMLResponse": base64.b64encode(bomb).decode()})
    lms.post("/t/acme/saml/acs", data={"SAMLResponse": "this is not base64!"})
    ams.get(f"/t/acme/saml/sso?{urlencode({'SAMLRequest': base64.b64encode(b'not deflated').decode()})}")
    jwe = f"{b64url({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a2V5.aXY.Y2lwaGVy.dGFn"
    broken_header = base64.urlsafe_b64encode(b'{"alg": nope').decode().rstrip("=")
    not_json = f"{broken_header}.{b64url({'a': 1})}.c2ln"
    no_claims = f"{b64url({'alg': 'HS256'})}.bm90LWpzb24.c2ln"
    for assertion in (jwe, not_json, no_claims):
        ams.post("/t/acme/oidc/token", data={"client_assertion": assertion})


def test_hostile_input_gets_a_plain_sentence_never_an_error_page(
    ui: UiSession, make_tenant: Any, ams: Any, lms: Any, console: Any
) -> None:
    make_tenant("acme")
    hostile_requests(lms, ams)
    expected = [
        "The SAMLResponse declares a DOCTYPE or entities; such XML is refused and not parsed",
        "The SAMLResponse is not valid base64.",
        "The SAMLRequest is not valid DEFLATE data",
        "A JWT here was redacted whole when it was journaled",
        "A JWT here was redacted whole when it was journaled",
        "The JWT's payload is not a base64url-encoded JSON object",
    ]

    for entry, sentence in zip(entries(console), expected, strict=True):
        page = ui.page(f"/tenants/acme/journal/{entry['id']}")
        assert page.status_code == 200, entry["path"]
        shown = html.unescape(text_of(page.text))
        assert sentence in shown, (entry["path"], shown)
        for word in ("Traceback", "Error:", "XMLSyntaxError", "binascii", "zlib.error", "went wrong"):
            assert word not in shown
        api = console.get(f"/api/tenants/acme/journal/{entry['id']}", headers=ADMIN)
        assert api.status_code == 200 and JournalEntryDecoded.model_validate(api.get_json())


def test_an_entry_of_another_tenant_is_not_found_on_the_page_and_in_the_api(
    ui_as: Any, make_tenant: Any, lms: Any, console: Any
) -> None:
    acme, other = make_tenant("acme"), make_tenant("other")
    lms.get("/t/acme/private")
    entry_id = entries(console)[-1]["id"]
    session = ui_as(other.api_key)

    assert session.page(f"/tenants/acme/journal/{entry_id}").status_code == 404
    assert session.page(f"/tenants/other/journal/{entry_id}").status_code == 404
    assert session.page("/tenants/acme/journal/rows?since=0").status_code == 404
    assert console.get(f"/api/tenants/acme/journal/{entry_id}", headers=other.auth).status_code == 404
    missing = console.get(f"/api/tenants/other/journal/{entry_id}", headers=other.auth)
    assert missing.status_code == 404 and missing.get_json()["code"] == "journal_entry_not_found"
    own = console.get(f"/api/tenants/acme/journal/{entry_id}", headers=acme.auth)
    assert own.status_code == 200 and own.get_json()["decoded"] == {"saml": [], "jwts": []}
    assert ui_as(acme.api_key).page(f"/tenants/acme/journal/{entry_id}").status_code == 200
    assert session.page(f"/tenants/other/journal/{2**70}").status_code == 404
