"""Decoding SAML messages and JWTs from journal entries, on crafted (and hostile) messages."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from typing import Any

import pytest

from simulator.ams.idp.keys import generate_key_material
from simulator.console.decoding import (
    MAX_MESSAGE_BYTES,
    POST_BINDING,
    REDIRECT_BINDING,
    decode_entry,
    decode_jwt,
    decode_saml,
)
from simulator.core.redaction import redact_body, redact_form, redact_header

AT = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
NAMESPACES = (
    'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
    'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"'
)
_, _, CERTIFICATE_PEM = generate_key_material("Decoding test IdP")
CERTIFICATE = "".join(line for line in CERTIFICATE_PEM.splitlines() if "-----" not in line)


def signature(reference: str, value: str = "[redacted]", certificate: str = CERTIFICATE) -> str:
    return (
        "<ds:Signature><ds:SignedInfo>"
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        f'<ds:Reference URI="{reference}"><ds:Transforms>'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue>ZGlnZXN0</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        f"<ds:SignatureValue>{value}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data>"
        "</ds:KeyInfo></ds:Signature>"
    )


RESPONSE = (
    f'<samlp:Response {NAMESPACES} ID="_r1" InResponseTo="_req1" Version="2.0" '
    'IssueInstant="2026-05-01T11:59:58Z" Destination="https://lms.example/acs">'
    "<saml:Issuer>https://idp.example/metadata</saml:Issuer>"
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder">'
    '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode>'
    "<samlp:StatusMessage>Membership lapsed</samlp:StatusMessage></samlp:Status>"
    '<saml:Assertion ID="_a1" IssueInstant="2026-05-01T11:59:58Z" Version="2.0">'
    "<saml:Issuer>https://idp.example/metadata</saml:Issuer>"
    f"{signature('#_a1')}"
    "<saml:Subject>"
    '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">M100001</saml:NameID>'
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
    '<saml:SubjectConfirmationData Recipient="https://lms.example/acs" NotOnOrAfter="2026-05-01T12:04:58Z" '
    'InResponseTo="_req1"/></saml:SubjectConfirmation></saml:Subject>'
    '<saml:Conditions NotBefore="2026-05-01T11:59:58Z" NotOnOrAfter="2026-05-01T12:04:58Z">'
    "<saml:AudienceRestriction><saml:Audience>https://lms.example/sp</saml:Audience>"
    "</saml:AudienceRestriction></saml:Conditions>"
    '<saml:AuthnStatement AuthnInstant="2026-05-01T11:59:57Z" SessionIndex="_s1"><saml:AuthnContext>'
    "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
    '<saml:AttributeStatement><saml:Attribute Name="urn:oid:0.9.2342.19200300.100.1.3" FriendlyName="mail">'
    "<saml:AttributeValue>ann@example.org</saml:AttributeValue></saml:Attribute>"
    '<saml:Attribute Name="groups"><saml:AttributeValue>a</saml:AttributeValue>'
    "<saml:AttributeValue>b</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"
    "</saml:Assertion></samlp:Response>"
)
AUTHN_REQUEST = (
    f'<samlp:AuthnRequest {NAMESPACES} ID="_req1" Version="2.0" IssueInstant="2026-05-01T11:59:50Z" '
    'Destination="https://idp.example/sso" AssertionConsumerServiceURL="https://lms.example/acs" '
    'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
    "<saml:Issuer>https://lms.example/sp</saml:Issuer>"
    '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>'
)


def posted(xml: str | bytes) -> str:
    return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode()


def redirected(xml: str | bytes) -> str:
    compressor = zlib.compressobj(wbits=-15)
    data = xml.encode() if isinstance(xml, str) else xml
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


def b64url(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def entry(**values: Any) -> dict[str, Any]:
    base = {
        "id": 1,
        "at": AT.isoformat(),
        "app": "lms",
        "method": "POST",
        "path": "/t/acme/saml/acs",
        "query": "",
        "request_headers": {},
        "request_body": "",
        "status": 200,
        "response_headers": {},
        "response_body": "",
        "latency_ms": 1.0,
        "fault": None,
        "remote_addr": "127.0.0.1",
    }
    return {**base, **values}


# --- SAML ------------------------------------------------------------------------------------------------


def test_a_posted_response_is_summarised() -> None:
    message = decode_saml("SAMLResponse", posted(RESPONSE), POST_BINDING, "the request body")

    assert message["error"] is None
    summary = message["summary"]
    assert (summary["message_type"], summary["id"], summary["in_response_to"]) == ("Response", "_r1", "_req1")
    assert summary["issuer"] == "https://idp.example/metadata"
    assert summary["destination"] == "https://lms.example/acs"
    assert summary["status_codes"] == [
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
    ]
    assert summary["status_message"] == "Membership lapsed"
    [assertion] = summary["assertions"]
    assert (assertion["name_id"], assertion["name_id_format"]) == (
        "M100001",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    )
    assert assertion["subject_confirmations"] == [
        {
            "method": "urn:oasis:names:tc:SAML:2.0:cm:bearer",
            "recipient": "https://lms.example/acs",
            "not_before": None,
            "not_on_or_after": "2026-05-01T12:04:58Z",
            "in_response_to": "_req1",
        }
    ]
    assert assertion["conditions"] == {
        "not_before": "2026-05-01T11:59:58Z",
        "not_on_or_after": "2026-05-01T12:04:58Z",
        "audiences": ["https://lms.example/sp"],
    }
    [statement] = assertion["authn_statements"]
    assert statement["session_index"] == "_s1" and statement["authn_context_class_ref"].endswith(
        "PasswordProtectedTransport"
    )
    assert [(a["name"], a["friendly_name"], a["values"]) for a in assertion["attributes"]] == [
        ("urn:oid:0.9.2342.19200300.100.1.3", "mail", ["ann@example.org"]),
        ("groups", None, ["a", "b"]),
    ]
    assert "<saml:Audience>https://lms.example/sp</saml:Audience>" in message["xml"]
    assert "\n    <saml:Issuer>" in message["xml"]  # pretty-printed


def test_each_signature_says_what_it_signs_and_what_it_carries() -> None:
    message = decode_saml("SAMLResponse", posted(RESPONSE), POST_BINDING, "the request body")

    [signed] = message["summary"]["signatures"]
    assert (signed["signs"], signed["parent_id"], signed["reference_uri"]) == ("Assertion", "_a1", "#_a1")
    assert signed["reference_matches"] is True and signed["reference_target"] is None
    assert signed["signature_method"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert signed["digest_method"] == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert signed["transforms"] == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature"]
    assert signed["value"] == "redacted in the journal"
    assert signed["certificate"]["subject"] == "CN=Decoding test IdP"
    assert signed["certificate"]["not_after"] > "2026" and signed["certificate"]["error"] is None
    assert "Signature values are redacted in the journal" in " ".join(message["notes"])


def test_a_signature_that_points_elsewhere_is_named_and_a_bad_certificate_is_explained() -> None:
    wrapped = RESPONSE.replace(signature("#_a1"), signature("#_r1", value="c2ln", certificate="bm90IGRlcg=="))

    [signed] = decode_saml("SAMLResponse", posted(wrapped), POST_BINDING, "x")["summary"]["signatures"]

    assert signed["reference_matches"] is False and signed["reference_target"] == "Response _r1"
    assert signed["value"] == "present"
    assert signed["certificate"]["error"] == "The embedded X509Certificate could not be parsed."


def test_an_encrypted_assertion_shows_its_algorithms() -> None:
    encrypted = (
        f'<samlp:Response {NAMESPACES} ID="_r2"><saml:EncryptedAssertion><xenc:EncryptedData>'
        '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>'
        '<ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/>'
        "</xenc:EncryptedKey></ds:KeyInfo></xenc:EncryptedData></saml:EncryptedAssertion></samlp:Response>"
    )

    summary = decode_saml("SAMLResponse", posted(encrypted), POST_BINDING, "x")["summary"]

    assert summary["assertions"] == []
    assert summary["encrypted_assertions"] == [
        {
            "data_algorithm": "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "key_algorithm": "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        }
    ]


def test_a_redirect_binding_request_is_inflated_and_its_details_shown() -> None:
    fields = {"RelayState": "/courses/1", "SigAlg": "rsa-sha256", "Signature": "[redacted]"}

    message = decode_saml("SAMLRequest", redirected(AUTHN_REQUEST), REDIRECT_BINDING, "the query", fields)

    assert message["error"] is None and message["notes"] == []
    assert (message["relay_state"], message["sig_alg"], message["query_signature"]) == (
        "/courses/1",
        "rsa-sha256",
        "redacted in the journal",
    )
    summary = message["summary"]
    assert (summary["message_type"], summary["issuer"]) == ("AuthnRequest", "https://lms.example/sp")
    assert summary["details"] == {
        "AssertionConsumerServiceURL": "https://lms.example/acs",
        "ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        "NameIDPolicy Format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    }


def test_the_wrong_encoding_for_the_binding_is_read_and_pointed_out() -> None:
    undeflated = decode_saml("SAMLRequest", posted(AUTHN_REQUEST), REDIRECT_BINDING, "q")
    deflated_post = decode_saml("SAMLRequest", redirected(AUTHN_REQUEST), POST_BINDING, "body")

    assert undeflated["summary"]["id"] == deflated_post["summary"]["id"] == "_req1"
    assert "was not deflated" in undeflated["notes"][0]
    assert "was deflated, though the HTTP-POST binding" in deflated_post["notes"][0]


def test_a_comment_inside_the_name_id_is_pointed_out() -> None:
    tricked = RESPONSE.replace(">M100001<", ">admin@example.org<!---->.evil<")

    message = decode_saml("SAMLResponse", posted(tricked), POST_BINDING, "x")

    assert message["summary"]["assertions"][0]["name_id"] == "admin@example.org.evil"
    assert any("comment-injection" in note for note in message["notes"])


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:'
    b'protocol">&lol3;</samlp:Response>'
)
XXE = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'


@pytest.mark.parametrize(
    ("value", "binding", "sentence"),
    [
        (posted(BILLION_LAUGHS), POST_BINDING, "The SAMLResponse declares a DOCTYPE or entities"),
        (posted(XXE), POST_BINDING, "The SAMLResponse declares a DOCTYPE or entities"),
        (redirected(XXE), REDIRECT_BINDING, "The SAMLResponse declares a DOCTYPE or entities"),
        (
            posted(XXE.decode().encode("utf-16")),
            POST_BINDING,
            "The SAMLResponse declares a DOCTYPE or entities",
        ),
        ("not base64 at all!", POST_BINDING, "The SAMLResponse is not valid base64."),
        ("QUJ", POST_BINDING, "The SAMLResponse is not valid base64."),
        ("", POST_BINDING, "The SAMLResponse is empty."),
        (posted(b"\x01\x02 not deflate"), REDIRECT_BINDING, "The SAMLResponse is not valid DEFLATE data"),
        (redirected(RESPONSE)[:40], REDIRECT_BINDING, "The SAMLResponse's DEFLATE data ends early"),
        (redirected(b"<" + b" " * (2 * MAX_MESSAGE_BYTES)), REDIRECT_BINDING, "inflates to more than 256 kB"),
        (posted("<samlp:Response><unclosed>"), POST_BINDING, "The SAMLResponse is not well-formed XML ("),
        (posted("plain words"), POST_BINDING, "The SAMLResponse is not well-formed XML ("),
        ("A" * (MAX_MESSAGE_BYTES * 2), POST_BINDING, "is larger than 256 kB"),
    ],
)
def test_hostile_or_broken_messages_get_one_plain_sentence(value: str, binding: str, sentence: str) -> None:
    message = decode_saml("SAMLResponse", value, binding, "x")

    assert message["error"].startswith(sentence) or sentence in message["error"]
    assert message["summary"] is None and message["xml"] is None
    for word in ("Error", "Traceback", "binascii", "zlib", "lxml"):
        assert word not in message["error"]


def test_xml_that_is_not_a_saml_message_is_shown_with_a_note() -> None:
    message = decode_saml("SAMLResponse", posted("<html><body>Login</body></html>"), POST_BINDING, "x")

    assert message["error"] is None and message["summary"]["message_type"] == "html"
    assert "not a SAML 2.0 protocol message" in message["notes"][0]


# --- JWTs ------------------------------------------------------------------------------------------------


def test_a_jwt_shows_its_claims_and_times_and_whether_it_had_expired() -> None:
    header = {"alg": "RS256", "kid": "k1"}
    claims = {"iss": "https://idp", "exp": 1_777_636_800, "iat": 1_777_633_200, "auth_time": True}

    fresh = decode_jwt(f"{b64url(header)}.{b64url(claims)}.[redacted]", "the body", AT)
    late = decode_jwt(f"{b64url(header)}.{b64url(claims)}.c2ln", "the body", AT + dt.timedelta(hours=1))

    assert (fresh["kind"], fresh["header"], fresh["claims"]) == ("JWS", header, claims)
    assert fresh["times"] == {"exp": "2026-05-01T12:00:00+00:00", "iat": "2026-05-01T11:00:00+00:00"}
    assert fresh["signature"] == "redacted in the journal" and late["signature"] == "present"
    assert fresh["expired_at_request"] is False and fresh["notes"] == []
    assert late["expired_at_request"] is True and late["notes"] == ["Expired at the time of the request."]


@pytest.mark.parametrize(
    ("token", "sentence"),
    [
        (
            f"{b64url({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a2V5.aXY.Y2lwaGVy.dGFn",
            "This is an encrypted JWT",
        ),
        (f"{b64url({'alg': 'HS256'})}.{b64url({'a': 1})}", "This is not a JWT"),
        ("eyJub3QganNvbg.eyJhIjoxfQ.c2ln", "The JWT's header is not base64url-encoded JSON."),
        (f"{b64url({'typ': 'JWT'})}.{b64url({'a': 1})}.c2ln", 'The JWT\'s header names no "alg"'),
        (f"{b64url({'alg': 'HS256'})}.bm90IGpzb24.c2ln", "The JWT's payload is not a base64url-encoded JSON"),
        (
            f"{b64url({'alg': 'HS256'})}.{b64url([1, 2])}.c2ln",
            "The JWT's payload is not a base64url-encoded JSON",
        ),
        (f"{b64url({'alg': 'HS256'})}.{b64url('[' * 5000)}.c2ln", "The JWT's payload is not"),
    ],
)
def test_what_is_not_a_readable_jwt_gets_one_plain_sentence(token: str, sentence: str) -> None:
    assert decode_jwt(token, "x", AT)["error"].startswith(sentence)


def test_a_jwe_shows_its_header_and_an_impossible_time_is_a_note() -> None:
    jwe = decode_jwt(f"{b64url({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a.b.c.d", "x", AT)
    far = decode_jwt(f"{b64url({'alg': 'none'})}.{b64url({'exp': 10**20})}.", "x", AT)

    assert jwe["kind"] == "JWE" and jwe["header"] == {"alg": "RSA-OAEP", "enc": "A256GCM"}
    assert far["times"] == {} and far["notes"] == [f"The exp claim ({10**20}) is not a valid time."]
    assert far["signature"] == "none (an unsecured JWT)" and far["expired_at_request"] is None


# --- entries ---------------------------------------------------------------------------------------------

ID_TOKEN = f"{b64url({'alg': 'RS256'})}.{b64url({'sub': 'M1', 'exp': 1_777_636_900})}.c2lnbmF0dXJl"


def test_an_entry_s_messages_are_found_where_each_binding_puts_them() -> None:
    page = (
        '<form method="post" action="https://lms/acs"><input type="hidden" name="SAMLResponse" '
        f'value="{posted(RESPONSE)}"><input type="hidden" name="RelayState" value="/c&amp;d"></form>'
    )
    stored = entry(
        query=redact_form(f"SAMLRequest={redirected(AUTHN_REQUEST)}&SigAlg=rsa&Signature=abc"),
        request_headers={"Content-Type": "application/x-www-form-urlencoded"},
        request_body=redact_form(f"SAMLResponse={posted(RESPONSE).replace('+', '%2B')}&RelayState=r"),
        response_headers={
            "Content-Type": "text/html; charset=utf-8",
            "Location": f"https://idp/slo?SAMLRequest={redirected(AUTHN_REQUEST).replace('+', '%2B')}",
        },
        response_body=redact_body(page, "text/html"),
    )

    saml = decode_entry(stored, body_limit=65_536)["saml"]

    assert [(m["source"], m["field"], m["binding"], m["error"]) for m in saml] == [
        ("the query string", "SAMLRequest", REDIRECT_BINDING, None),
        ("the request body", "SAMLResponse", POST_BINDING, None),
        ("the Location header's query", "SAMLRequest", REDIRECT_BINDING, None),
        ("the response page's form", "SAMLResponse", POST_BINDING, None),
    ]
    assert saml[0]["query_signature"] == "redacted in the journal" and saml[3]["relay_state"] == "/c&d"
    assert saml[1]["summary"] == saml[3]["summary"]


def test_a_message_the_journal_cut_short_says_so() -> None:
    body = f"RelayState=r&SAMLResponse={posted(RESPONSE)}"[:1000]
    stored = entry(request_headers={"Content-Type": "application/x-www-form-urlencoded"}, request_body=body)

    [message] = decode_entry(stored, body_limit=1000)["saml"]

    assert message["error"].startswith("The SAMLResponse was cut short when it was journaled")
    assert "first 1000 bytes" in message["error"]


def test_jwts_are_found_in_headers_fields_and_json_at_any_depth_as_the_journal_stores_them() -> None:
    stored = entry(
        query=redact_form(f"id_token_hint={ID_TOKEN}&state=s"),
        request_headers={"Authorization": redact_header("Authorization", f"Bearer {ID_TOKEN}")},
        response_headers={"Content-Type": "application/json"},
        response_body=redact_body(
            json.dumps(
                {
                    "access_token": "opaque",
                    "nested": {"sessions": [{"id_token": ID_TOKEN}]},
                    "note": "[jwt redacted]",
                }
            ),
            "application/json",
        ),
    )

    jwts = decode_entry(stored, body_limit=4096)["jwts"]

    assert [jwt["source"] for jwt in jwts] == [
        "the query string, field id_token_hint",
        "the request header Authorization",
        "the response body, field nested.sessions[0].id_token",
        "the response body, field note",
    ]
    assert all(jwt["claims"] == {"sub": "M1", "exp": 1_777_636_900} for jwt in jwts[:3])
    assert all(jwt["signature"] == "redacted in the journal" for jwt in jwts[:3])
    assert jwts[3]["error"].startswith("A JWT here was redacted whole when it was journaled")


def test_bodies_that_do_not_parse_are_searched_as_text_and_nothing_breaks_on_deep_json() -> None:
    cut_json = entry(response_body=f'{{"id_token": "{ID_TOKEN}", "tru')
    deep = entry(response_body="[" * 100_000)
    deep_but_valid = entry(response_body="[" * 990 + '"x"' + "]" * 990)

    assert [jwt["source"] for jwt in decode_entry(cut_json, 4096)["jwts"]] == ["the response body"]
    assert decode_entry(deep, 4096) == decode_entry(deep_but_valid, 4096) == {"saml": [], "jwts": []}
    assert decode_entry(entry(), 4096) == {"saml": [], "jwts": []}
