"""What a person reads when the IdP or the SP refuses a SAML message: one plain sentence naming what is
wrong with it — never a parser's text or an exception's class name. An entity bomb is named as
entities refused, not as bad base64."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.sso.saml_attacks import BILLION_LAUGHS, XXE

ENTITIES_REFUSED = "declares a DTD or entities, which are not allowed."
CLASS_NAMES = re.compile(r"\w*(Error|Exception)\b|Errno|IncorrectlySigned|<string>|Traceback")
"""Never on a refusal page: a class name, an OS error number, lxml's name for its input."""


def visible_text(response: Any) -> str:
    """The page's text as a person reads it (no markup, no style sheet, whitespace collapsed)."""
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def posted(document: str) -> str:
    """The HTTP-POST binding's encoding (SAML bindings 2.0 §3.5.4: base64)."""
    return base64.b64encode(document.encode()).decode()


def redirected(document: str) -> str:
    """The HTTP-Redirect binding's encoding (SAML bindings 2.0 §3.4.4.1: raw DEFLATE, then base64)."""
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(document.encode()) + compressor.flush()).decode()


def assert_plain_refusal(response: Any, status: int, sentence: str) -> str:
    text = visible_text(response)
    assert response.status_code == status, text
    assert sentence in text
    assert not CLASS_NAMES.search(text), text
    assert "Location" not in response.headers
    return text


# --- the LMS's ACS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saml_response", "sentence"),
    [
        (posted(BILLION_LAUGHS), f"The SAMLResponse {ENTITIES_REFUSED}"),
        (posted(XXE), f"The SAMLResponse {ENTITIES_REFUSED}"),
        (posted("<samlp:Response"), "The SAMLResponse is not well-formed XML (line 1, column 16)."),
        ("this is not base64!", "The SAMLResponse is not valid base64."),
        ("", "The SAMLResponse is missing."),
    ],
    ids=["entity-bomb", "external-entity", "unclosed", "not-base64", "missing"],
)
def test_the_acs_refuses_an_unreadable_saml_response_in_a_sentence(
    lms: Any, make_tenant: Any, saml_response: str, sentence: str
) -> None:
    make_tenant("acme")

    response = lms.post("/t/acme/saml/acs", data={"SAMLResponse": saml_response})

    text = assert_plain_refusal(response, 400, sentence)
    assert "Reference: saml_response_malformed" in text
    assert lms.get("/t/acme/me").status_code == 401


def test_an_entity_bomb_at_the_acs_is_not_called_bad_base64(lms: Any, make_tenant: Any) -> None:
    make_tenant("acme")

    response = lms.post("/t/acme/saml/acs", data={"SAMLResponse": posted(BILLION_LAUGHS)})

    assert "base64" not in visible_text(response)
    assert lms.get("/healthz").status_code == 200


# --- the AMS's IdP --------------------------------------------------------------------------------------

NOT_A_REQUEST = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>'
UNREADABLE_REQUESTS = [
    (BILLION_LAUGHS, f"The SAMLRequest {ENTITIES_REFUSED}"),
    (XXE, f"The SAMLRequest {ENTITIES_REFUSED}"),
    ("<samlp:AuthnRequest", "The SAMLRequest is not well-formed XML (line 1, column 20)."),
    (NOT_A_REQUEST, "The SAMLRequest is not a readable SAML 2.0 {message}."),
]
REQUEST_IDS = ["entity-bomb", "external-entity", "unclosed", "another-message"]


@pytest.mark.parametrize(("document", "sentence"), UNREADABLE_REQUESTS, ids=REQUEST_IDS)
def test_the_idp_refuses_an_unreadable_posted_authn_request_in_a_sentence(
    ams: Any, make_tenant: Any, document: str, sentence: str
) -> None:
    make_tenant("acme")

    response = ams.post("/t/acme/saml/sso", data={"SAMLRequest": posted(document)})

    assert_plain_refusal(response, 400, sentence.format(message="AuthnRequest"))


@pytest.mark.parametrize(("path", "message"), [("sso", "AuthnRequest"), ("slo", "LogoutRequest")])
@pytest.mark.parametrize(("document", "sentence"), UNREADABLE_REQUESTS, ids=REQUEST_IDS)
def test_the_idp_refuses_an_unreadable_redirected_request_in_a_sentence(
    ams: Any, make_tenant: Any, document: str, sentence: str, path: str, message: str
) -> None:
    make_tenant("acme")

    response = ams.get(f"/t/acme/saml/{path}?{urlencode({'SAMLRequest': redirected(document)})}")

    assert_plain_refusal(response, 400, sentence.format(message=message))


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ({"SAMLRequest": "%%% not base64 %%%"}, "The SAMLRequest is not valid base64."),
        (
            {"SAMLRequest": posted("<samlp:AuthnRequest/>")},
            "The SAMLRequest is not DEFLATE-compressed, as the HTTP-Redirect binding requires.",
        ),
    ],
    ids=["not-base64", "not-deflated"],
)
def test_the_idp_names_the_encoding_step_a_redirected_request_fails(
    ams: Any, make_tenant: Any, query: dict[str, str], sentence: str
) -> None:
    make_tenant("acme")

    response = ams.get(f"/t/acme/saml/sso?{urlencode(query)}")

    assert_plain_refusal(response, 400, sentence)
