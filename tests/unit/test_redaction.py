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
        ("X-Debug", f"id token was {JWT}", "id token was [jwt redacted]"),
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


def test_jwts_anywhere() -> None:
    assert scrub_text(f"token {JWT}.") == "token [jwt redacted]."
    assert redact_body(json.dumps({"note": f"see {JWT}"}), "application/json") == (
        '{"note": "see [jwt redacted]"}'
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


def test_truncation_never_splits_a_character() -> None:
    assert stored_body("ééé".encode(), "text/plain", limit=3) == "é"


def test_codes_and_tokens_in_redirect_urls_are_redacted() -> None:
    from simulator.core.redaction import redact_header

    location = "http://127.0.0.1:8002/t/acme/oidc/callback?code=abc123&state=xyz#access_token=Zq9Zq9&x=1"
    redacted = redact_header("Location", location)
    assert "abc123" not in redacted
    assert "Zq9Zq9" not in redacted
    assert redacted.startswith("http://127.0.0.1:8002/t/acme/oidc/callback?code=")
    assert "state=xyz" in redacted
