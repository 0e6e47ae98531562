"""Redaction rules of the request journal, one by one."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from simulator.core.journal import stored_body
from simulator.core.redaction import (
    is_secret_field,
    luhn_valid,
    redact_body,
    redact_form,
    redact_header,
    redact_headers,
    redact_saml_message,
    scrub_text,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl"
UNSIGNED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.[redacted]"
JWE = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.ZW5jLWtleQ.aXY.Y2lwaGVydGV4dA.dGFn"
NO_ALG = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl"  # header {"typ": "JWT"}: no alg
SIGNED_XML = (
    '<samlp:Response><ds:Signature><ds:SignatureValue Id="s">QUJD\nREVG==</ds:SignatureValue>'
    "</ds:Signature><saml:Assertion>ann@example.org</saml:Assertion></samlp:Response>"
)


# --- headers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("Authorization", "Bearer sk_live_abc", "Bearer [redacted]"),
        ("authorization", "Basic YW5uOnNlY3JldA==", "Basic [redacted]"),
        ("Proxy-Authorization", "Digest username=x, response=y", "Digest [redacted]"),
        ("Authorization", "justakey", "[redacted]"),
        ("Cookie", "session=abc; theme=dark", "[redacted]"),
        ("Set-Cookie", "session=abc; HttpOnly", "[redacted]"),
        ("X-Api-Key", "k-123", "[redacted]"),
        ("webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", "[redacted]"),
        ("X-Client-Secret", "shh", "[redacted]"),
        ("Accept", "application/json", "application/json"),
        ("X-Forwarded-Token-Hint", "none", "[redacted]"),
        ("X-Debug", f"id token was {JWT}", f"id token was {UNSIGNED}"),
        ("Authorization", f"Bearer {JWT}", f"Bearer {UNSIGNED}"),
        ("Authorization", f"Bearer {JWE}", "Bearer [redacted]"),
        ("X-Id-Token", JWT, UNSIGNED),
        ("Cookie", f"id_token={JWT}", "[redacted]"),
    ],
)
def test_header_values(name: str, value: str, stored: str) -> None:
    assert redact_header(name, value) == stored


def test_repeated_headers_are_joined_after_redaction() -> None:
    headers = redact_headers([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Vary", "Accept")])

    assert headers == {"Set-Cookie": "[redacted], [redacted]", "Vary": "Accept"}


# --- field names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "newPassword",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "api_key",
        "apikey",
        "API-Key",
        "card_number",
        "cardNumber",
        "cvc",
        "cvv",
        "pan",
        "Signature",
    ],
)
def test_secret_field_names(name: str) -> None:
    assert is_secret_field(name)


@pytest.mark.parametrize("name", ["email", "postal_code_x", "country", "number", "id", "state", "SigAlg"])
def test_ordinary_field_names(name: str) -> None:
    assert not is_secret_field(name)


def test_number_is_secret_only_inside_a_card() -> None:
    assert is_secret_field("number", parent="card")
    assert is_secret_field("number", parent="payment_card")
    assert not is_secret_field("number", parent="phone")


# --- JSON and form bodies, query strings ----------------------------------------------------------------


def test_json_fields_are_redacted_at_any_depth() -> None:
    body = json.dumps(
        {
            "user": {"email": "ann@example.org", "password": "hunter2"},
            "payment": {"card": {"number": "4000 0000 0000 0002", "cvc": "123", "exp_month": 12}},
            "grants": [{"access_token": "at-1", "scope": "openid"}],
            "phone": {"number": "555-0100"},
        }
    )

    redacted = json.loads(redact_body(body, "application/json"))

    assert redacted["user"] == {"email": "ann@example.org", "password": "[redacted]"}
    assert redacted["payment"]["card"] == {"number": "[redacted]", "cvc": "[redacted]", "exp_month": 12}
    assert redacted["grants"] == [{"access_token": "[redacted]", "scope": "openid"}]
    assert redacted["phone"] == {"number": "555-0100"}


def test_problem_documents_keep_their_error_code() -> None:
    problem = {"type": "urn:x", "title": "Conflict", "status": 409, "code": "email_taken", "detail": "…"}

    assert json.loads(redact_body(json.dumps(problem), "application/problem+json")) == problem
    assert json.loads(redact_body('{"code": "auth-code-123"}', None)) == {"code": "[redacted]"}


def test_form_bodies_keep_their_shape() -> None:
    body = "grant_type=authorization_code&code=abc123&redirect_uri=https%3A%2F%2Flms&client_secret=s3cr3t"

    assert redact_body(body, "application/x-www-form-urlencoded; charset=utf-8") == (
        "grant_type=authorization_code&code=[redacted]&redirect_uri=https%3A%2F%2Flms&client_secret=[redacted]"
    )


def test_query_strings() -> None:
    query = "SAMLRequest=fZFBb&RelayState=%2Fcourses&SigAlg=rsa-sha256&Signature=AbC%2B%3D&token=t0k"

    redacted = redact_form(query)

    assert "Signature=[redacted]" in redacted
    assert "token=[redacted]" in redacted
    assert "RelayState=%2Fcourses" in redacted
    assert "SigAlg=rsa-sha256" in redacted


def test_malformed_json_is_still_redacted_by_key() -> None:
    body = '{"password": "hunter2", "pin": 1234, "api_key": 998877, "note": "trunc'

    redacted = redact_body(body, "application/json")

    assert "hunter2" not in redacted
    assert "998877" not in redacted
    assert '"pin": 1234' in redacted


# --- anywhere in any text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card", ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005"]
)
def test_card_numbers_anywhere(card: str) -> None:
    assert scrub_text(f"paid with {card} today") == "paid with [card redacted] today"


def test_digit_runs_that_fail_luhn_or_are_short_stay() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert scrub_text("order 4242424242424241 of 123456789012") == "order 4242424242424241 of 123456789012"


def test_card_numbers_in_plain_text_bodies_and_json_numbers() -> None:
    assert redact_body("card=4242424242424242", "text/plain") == "card=[card redacted]"
    assert "4242" not in redact_body('{"amount": 10, "ref": 4242424242424242}', "application/json")


def test_jwts_anywhere_keep_their_claims_and_lose_their_signature() -> None:
    assert scrub_text(f"token {JWT}.") == f"token {UNSIGNED}."
    assert redact_body(json.dumps({"note": f"see {JWT}"}), "application/json") == (
        f'{{"note": "see {UNSIGNED}"}}'
    )
    assert "c2lnbmF0dXJl" not in scrub_text(f"a {JWT} b {JWT}")


def test_what_only_looks_like_a_jwt_is_redacted_whole() -> None:
    assert scrub_text(f"sent {JWE} here") == "sent [jwt redacted] here"
    assert scrub_text(f"sent {NO_ALG} here") == "sent [jwt redacted] here"
    assert scrub_text("eyJub3QganNvbg.eyJzdWIiOiJhbm4ifQ.c2ln") == "[jwt redacted]"


def test_jwts_in_secret_fields_keep_header_and_payload_and_nothing_else_does() -> None:
    form = f"grant_type=x&id_token_hint={JWT}&code=abc&client_secret=s3&access_token=opaque-123"
    assert redact_form(form) == (
        f"grant_type=x&id_token_hint={UNSIGNED}&code=[redacted]&client_secret=[redacted]"
        "&access_token=[redacted]"
    )
    body = {"id_token": JWT, "access_token": "opaque", "refresh_token": JWE, "password": JWT[:20], "n": 1}
    assert json.loads(redact_body(json.dumps(body), "application/json")) == {
        "id_token": UNSIGNED,
        "access_token": "[redacted]",
        "refresh_token": "[redacted]",
        "password": "[redacted]",
        "n": 1,
    }
    assert json.loads(redact_body(json.dumps({"logout_token": NO_ALG}), None)) == {
        "logout_token": "[redacted]"
    }
    malformed = f'{{"id_token": "{JWT}", "secret": "s3", "note": "trunc'
    assert redact_body(malformed, "application/json") == (
        f'{{"id_token": "{UNSIGNED}", "secret": "[redacted]", "note": "trunc'
    )


def test_redacting_what_was_redacted_changes_nothing() -> None:
    once = redact_form(f"id_token={JWT}&note=see+{JWT}")
    assert redact_form(once) == once == f"id_token={UNSIGNED}&note=see+{UNSIGNED}"
    assert scrub_text(once) == once
    assert redact_header("Authorization", redact_header("Authorization", f"Bearer {JWT}")) == (
        f"Bearer {UNSIGNED}"
    )


def test_xml_signature_values_with_any_prefix() -> None:
    redacted = scrub_text(SIGNED_XML + "<SignatureValue>xyz</SignatureValue>")

    assert "QUJD" not in redacted
    assert '<ds:SignatureValue Id="s">[redacted]</ds:SignatureValue>' in redacted
    assert "<SignatureValue>[redacted]</SignatureValue>" in redacted
    assert "ann@example.org" in redacted


def test_signature_inside_a_posted_saml_response() -> None:
    encoded = base64.b64encode(SIGNED_XML.encode()).decode()
    body = "SAMLResponse=" + encoded.replace("+", "%2B").replace("=", "%3D") + "&RelayState=x"

    stored = redact_body(body, "application/x-www-form-urlencoded")

    value = stored.split("&")[0].removeprefix("SAMLResponse=")
    xml = base64.b64decode(value.replace("%2B", "+").replace("%3D", "=")).decode()
    assert "QUJD" not in xml
    assert "ann@example.org" in xml
    assert stored.endswith("&RelayState=x")


def test_signature_inside_the_saml_response_of_an_auto_posting_page() -> None:
    encoded = base64.b64encode(SIGNED_XML.encode()).decode()
    page = (
        '<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" '
        f'value="{encoded}"><input type="hidden" name="RelayState" value="QUJD"></form>'
    )

    stored = redact_body(page, "text/html; charset=utf-8")

    value = stored.split('name="SAMLResponse" value="', 1)[1].split('"', 1)[0]
    xml = base64.b64decode(value).decode()
    assert "QUJD" not in xml and "ann@example.org" in xml
    assert stored.endswith('<input type="hidden" name="RelayState" value="QUJD"></form>')
    assert redact_body("<p>SAMLResponse is not here</p>", "text/html") == "<p>SAMLResponse is not here</p>"


def test_signature_inside_a_deflated_saml_request() -> None:
    compressor = zlib.compressobj(wbits=-15)
    deflated = compressor.compress(SIGNED_XML.encode()) + compressor.flush()

    redacted = redact_saml_message(base64.b64encode(deflated).decode())

    xml = zlib.decompress(base64.b64decode(redacted), -15).decode()
    assert "QUJD" not in xml
    assert "[redacted]" in xml


# --- storage -------------------------------------------------------------------------------------------


def test_truncation_happens_after_redaction() -> None:
    body = json.dumps({"password": "p" * 50, "card": "4242 4242 4242 4242"}).encode()

    stored = stored_body(body, "application/json", limit=30)

    assert stored == '{"password": "[redacted]", "ca'
    assert len(stored_body(body, "application/json", limit=10_000)) < len(body)


def test_a_body_carrying_a_saml_message_is_kept_whole_beyond_the_limit() -> None:
    encoded = base64.b64encode((SIGNED_XML * 40).encode()).decode()
    form = f"SAMLResponse={encoded.replace('+', '%2B').replace('=', '%3D')}&RelayState=x".encode()

    stored = stored_body(form, "application/x-www-form-urlencoded", limit=100)

    assert len(stored) > 5000 and stored.endswith("&RelayState=x")
    assert stored_body(b"SAMLResponse" + b"x" * 300_000, "text/plain", limit=100) == (
        "SAMLResponse" + "x" * (256 * 1024 - 12)
    )
    assert stored_body(b"RelayState=" + b"x" * 200, "application/x-www-form-urlencoded", limit=100) == (
        "RelayState=" + "x" * 89
    )


def test_truncation_never_splits_a_character() -> None:
    assert stored_body("ééé".encode(), "text/plain", limit=3) == "é"


def test_codes_and_tokens_in_redirect_urls_are_redacted() -> None:
    from simulator.core.redaction import redact_header

    location = (
        "http://127.0.0.1:8002/t/acme/oidc/callback?code=abc123&state=xyz#access_token=Zq9Zq9&x=1"
        f"&id_token={JWT}"
    )
    redacted = redact_header("Location", location)
    assert "abc123" not in redacted
    assert "Zq9Zq9" not in redacted
    assert redacted.endswith(f"&id_token={UNSIGNED}")
    assert redacted.startswith("http://127.0.0.1:8002/t/acme/oidc/callback?code=")
    assert "state=xyz" in redacted
