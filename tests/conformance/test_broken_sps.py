"""The strict SAML SP of conformance/broken refuses every attack and keeps honest sign-ins working.

Offline, through Flask's test client (tests/conformance/broken_sp_support.py).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from simulator.ams.idp.saml.request_signatures import verify_redirect_signature
from tests.conformance.broken_sp_support import (
    ACS,
    BASE,
    ENTITY_ID,
    MAIL,
    MD_NS,
    Sp,
    commented_name_id,
    minutes,
    replay,
)
from tests.sso import saml_attacks as attacks
from tests.sso.saml_attacks import NS, assertion_of, encode, new_id

# --- the base SP's own documents ---------------------------------------------------------------------


def test_metadata_is_schema_valid_and_describes_the_sp(sp: Sp) -> None:
    response = sp.browser.get("/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    assert not isinstance(OneLogin_Saml2_XML.validate_xml(response.data, "saml-schema-metadata-2.0.xsd"), str)
    root = etree.fromstring(response.data)
    assert root.get("entityID") == ENTITY_ID
    descriptor = root.find("md:SPSSODescriptor", MD_NS)
    assert descriptor.get("AuthnRequestsSigned") == "true"
    assert descriptor.get("WantAssertionsSigned") == "false"
    acs = descriptor.findall("md:AssertionConsumerService", MD_NS)
    assert [(a.get("Binding"), a.get("Location")) for a in acs] == [
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", ACS)
    ]
    assert [k.get("use") for k in descriptor.findall("md:KeyDescriptor", MD_NS)] == ["signing"]


def test_authn_request_is_signed_with_the_metadata_certificate(sp: Sp) -> None:
    metadata = etree.fromstring(sp.browser.get("/metadata").data)
    certificate = metadata.findtext(".//ds:X509Certificate", namespaces=MD_NS).strip()
    request, query = sp.login("/courses?page=2")
    raw = dict(part.split("=", 1) for part in query.split("&"))
    assert list(raw) == ["SAMLRequest", "RelayState", "SigAlg", "Signature"]
    assert unquote(raw["RelayState"]) == "/courses?page=2"
    assert unquote(raw["SigAlg"]) == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    signed = f"SAMLRequest={raw['SAMLRequest']}&RelayState={raw['RelayState']}&SigAlg={raw['SigAlg']}"
    public_key = x509.load_der_x509_certificate(base64.b64decode(certificate)).public_key()
    public_key.verify(
        base64.b64decode(unquote(raw["Signature"])), signed.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    verify_redirect_signature(query.encode(), [certificate])  # and the sandbox IdP agrees
    assert re.fullmatch(r"_[0-9a-f]{32}", request.get("ID"))
    assert request.get("Destination") == sp.idp.sso_url
    assert request.get("AssertionConsumerServiceURL") == ACS
    assert request.get("ProtocolBinding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert request.findtext("saml:Issuer", namespaces=NS) == ENTITY_ID
    policy = request.find("{urn:oasis:names:tc:SAML:2.0:protocol}NameIDPolicy")
    assert policy.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    assert policy.get("AllowCreate") == "true"


@pytest.mark.parametrize("return_to", [None, "https://evil.test/", "//evil.test/", "/\\evil.test"])
def test_login_returns_only_to_local_paths(sp: Sp, return_to: str | None) -> None:
    _, query = sp.login(return_to)
    assert parse_qs(query)["RelayState"] == ["/whoami"]


def test_every_login_has_a_fresh_request_id(sp: Sp) -> None:
    assert sp.login()[0].get("ID") != sp.login()[0].get("ID")


# --- the base SP accepts honest responses ------------------------------------------------------------


@pytest.mark.parametrize("where", ["assertion", "response", "both"])
def test_accepts_an_honest_signed_response(sp: Sp, where: str) -> None:
    request, _ = sp.login("/courses")
    response = sp.post(sp.idp.signed_response(sp.spec(in_response_to=request.get("ID")), where=where))
    assert response.status_code == 302
    assert response.headers["Location"] == "/courses"
    who = sp.whoami().get_json()
    assert who["name_id"] == "M1001"
    assert who["name_id_format"] == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert (who["member_id"], who["email"], who["given_name"], who["family_name"]) == (
        "M1001",
        "ada@example.org",
        "Ada",
        "Lovelace",
    )
    assert (who["member_type"], who["member_status"]) == ("regular", "active")
    assert who["attributes"][MAIL] == ["ada@example.org"]


def test_email_falls_back_to_the_name_id(sp: Sp) -> None:
    assert (
        sp.post(sp.idp.signed_response(sp.spec(name_id="ada@example.org", attributes={}))).status_code == 302
    )
    assert sp.whoami().get_json()["email"] == "ada@example.org"


def test_tolerates_clock_skew(sp: Sp) -> None:
    assert sp.post(sp.idp.signed_response(sp.spec(not_before=minutes(1)))).status_code == 302


def test_keeps_a_commented_name_id_whole(sp: Sp) -> None:
    assert sp.post(commented_name_id(sp)).status_code == 302
    who = sp.whoami().get_json()
    assert (who["name_id"], who["email"]) == ("victim@x.test.evil.test", "victim@x.test.evil.test")


@pytest.mark.parametrize(
    ("relay_state", "lands_on"), [("/courses", "/courses"), ("https://evil.test/", "/whoami")]
)
def test_unsolicited_responses_when_allowed(
    make_sp: Callable[..., Sp], relay_state: str, lands_on: str
) -> None:
    sp = make_sp(allow_unsolicited=True)
    response = sp.post(sp.idp.signed_response(sp.spec(in_response_to=None)), relay_state)
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on
    assert sp.signed_in_as() == "M1001"


# --- the base SP refuses, and whoever was signed in is signed out ------------------------------------


def _altered_name_id(sp: Sp, where: str) -> etree._Element:
    root = sp.idp.signed_response(sp.spec(), where=where)
    assertion_of(root).find("saml:Subject/saml:NameID", NS).text = "M666"
    return root


def _response_changed(sp: Sp, change: Callable[[etree._Element], Any], **spec: Any) -> etree._Element:
    """A response whose assertion is signed, changed after signing outside the assertion."""
    root = sp.idp.signed_response(sp.spec(**spec))
    change(root)
    return root


def _signature_moved_into_assertion(sp: Sp) -> etree._Element:
    """The Response's signature, still valid (enveloped: left out wherever it sits), put in the Assertion."""
    root = sp.idp.signed_response(sp.spec(), where="response")
    assertion_of(root).insert(1, root.find("ds:Signature", NS))
    return root


def _signed_with_inclusive_c14n(sp: Sp) -> etree._Element:
    """An assertion signature whose transforms are enveloped + inclusive C14N (xmlsec verifies it)."""
    root = sp.idp.response_xml(sp.spec())
    assertion = assertion_of(root)
    constants = xmlsec.constants
    signature = xmlsec.template.create(assertion, constants.TransformExclC14N, constants.TransformRsaSha256)
    assertion.insert(1, signature)
    reference = xmlsec.template.add_reference(
        signature, constants.TransformSha256, uri="#" + assertion.get("ID")
    )
    xmlsec.template.add_transform(reference, constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, constants.TransformInclC14N)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(sp.idp.key_pem, constants.KeyDataFormatPem)
    context.register_id(assertion, "ID")
    context.sign(signature)
    return root


REFUSED: dict[str, Callable[[Sp, tuple[str, str]], etree._Element]] = {
    "unsigned": lambda sp, _: sp.idp.response_xml(sp.spec(name_id="M666")),
    "signed by another key": lambda sp, key: sp.idp.signed_response(
        sp.spec(name_id="M666"), key_pem=key[0], cert_pem=key[1]
    ),
    "NameID altered after the assertion was signed": lambda sp, _: _altered_name_id(sp, "assertion"),
    "NameID altered after the response was signed": lambda sp, _: _altered_name_id(sp, "response"),
    "SHA-1": lambda sp, _: sp.idp.signed_response(sp.spec(), sha1=True),
    "a signature referencing another element than its own": lambda sp, _: _signature_moved_into_assertion(sp),
    "an inclusive C14N transform": lambda sp, _: _signed_with_inclusive_c14n(sp),
    "wrong Destination": lambda sp, _: sp.idp.signed_response(sp.spec(destination=f"{BASE}/other")),
    "no Destination": lambda sp, _: _response_changed(sp, lambda root: root.attrib.pop("Destination")),
    "wrong Recipient": lambda sp, _: sp.idp.signed_response(sp.spec(recipient="https://other-sp.test/acs")),
    "wrong Audience": lambda sp, _: sp.idp.signed_response(sp.spec(audience="https://other-sp.test/md")),
    "another Issuer": lambda sp, _: sp.idp.signed_response(sp.spec(issuer="https://evil-idp.test")),
    "expired": lambda sp, _: sp.idp.signed_response(sp.spec(not_on_or_after=minutes(-10))),
    "confirmation expired": lambda sp, _: sp.idp.signed_response(
        sp.spec(confirmation_not_on_or_after=minutes(-10))
    ),
    "not yet valid": lambda sp, _: sp.idp.signed_response(sp.spec(not_before=minutes(10))),
    "response issued an hour ago": lambda sp, _: _response_changed(
        sp, lambda root: root.set("IssueInstant", attacks.instant(minutes(-60)))
    ),
    "unsolicited": lambda sp, _: sp.idp.signed_response(sp.spec(in_response_to=None)),
    "answers no request": lambda sp, _: sp.idp.signed_response(sp.spec(in_response_to=new_id())),
    "InResponseTo swapped for another pending request": lambda sp, _: _response_changed(
        sp, lambda root: root.set("InResponseTo", sp.login()[0].get("ID"))
    ),
    "status not Success": lambda sp, _: _response_changed(
        sp,
        lambda root: root.find("samlp:Status/samlp:StatusCode", NS).set(
            "Value", "urn:oasis:names:tc:SAML:2.0:status:Requester"
        ),
    ),
    "an EncryptedAssertion besides": lambda sp, _: _response_changed(
        sp, lambda root: root.append(etree.Element(f"{{{attacks.SAML}}}EncryptedAssertion"))
    ),
    "an element after the assertion repeating its ID": lambda sp, _: _response_changed(
        sp, lambda root: root.append(etree.Element("{urn:x-test}Decoy", ID=assertion_of(root).get("ID")))
    ),
}


@pytest.mark.parametrize("attack", REFUSED)
def test_refuses(sp: Sp, other_key: tuple[str, str], attack: str) -> None:
    sp.sign_in()
    response = sp.post(REFUSED[attack](sp, other_key))
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert sp.whoami().status_code == 401


def test_refuses_a_replay(sp: Sp) -> None:
    message = encode(sp.idp.signed_response(sp.spec()))
    assert sp.post(message).status_code == 302
    assert replay(sp, message).status_code == 403
    assert sp.whoami().status_code == 401


def test_refuses_a_second_response_to_one_request(sp: Sp) -> None:
    first = sp.spec()
    assert sp.post(sp.idp.signed_response(first)).status_code == 302
    sp.new_browser()
    second = sp.spec(in_response_to=first.in_response_to, name_id="M2002")
    assert sp.post(sp.idp.signed_response(second)).status_code == 403
    assert sp.whoami().status_code == 401


@pytest.mark.parametrize(
    ("wrap", "where"),
    [
        (attacks.wrap_evil_before, "assertion"),
        (attacks.wrap_evil_after, "assertion"),
        (attacks.wrap_evil_around, "assertion"),
        (attacks.wrap_original_in_object, "assertion"),
        (attacks.wrap_response_in_extensions, "response"),
        (attacks.wrap_evil_before, "response"),
        (attacks.wrap_evil_after, "response"),
    ],
)
def test_refuses_signature_wrapping(sp: Sp, wrap: Callable[..., etree._Element], where: str) -> None:
    sp.sign_in()
    assert sp.post(wrap(sp.idp.signed_response(sp.spec(), where=where), "evil")).status_code == 403
    assert sp.whoami().status_code == 401


DEEP = (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
    + "<x>" * 5000
    + "</x>" * 5000
    + "</samlp:Response>"
)
MALFORMED = {
    "XXE": encode(attacks.XXE),
    "billion laughs": encode(attacks.BILLION_LAUGHS),
    "5,000 elements deep": encode(DEEP),
    "not base64": "%%% not base64 %%%",
    "not XML": encode("hello, world"),
    "over 512 KiB": "A" * (512 * 1024 + 4),
    "over the form limit": "A" * (3 * 1024 * 1024),
}


@pytest.mark.parametrize("message", MALFORMED)
def test_refuses_what_is_no_saml_message(sp: Sp, message: str) -> None:
    sp.sign_in()
    assert sp.post(MALFORMED[message]).status_code == 400
    assert sp.whoami().status_code == 401


def test_refuses_a_form_without_saml_response(sp: Sp) -> None:
    assert sp.browser.post("/acs", data={"RelayState": "/x"}).status_code == 400
