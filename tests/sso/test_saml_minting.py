"""Minted SAML Responses (``POST /api/tenants/{t}/saml/responses``), judged by python3-saml and xmlsec."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import xmlsec
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_ValidationError

from simulator.ams.idp.testing import SamlTestSp
from simulator.core.certificates import self_signed_rsa
from tests.conftest import ADMIN
from tests.sso.test_idp_saml import AMS_URL, idp_certificates, register

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
SP_ENTITY = "https://sp.example.org/metadata"
MEMBER = "active.member@demo.test"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


@pytest.fixture
def sp(console: Any, tenant: Any) -> SamlTestSp:
    test_sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"), want_encrypted=False)
    register(console, test_sp, sign="both")
    return test_sp


def mint(console: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return console.post(
        "/api/tenants/acme/saml/responses",
        json={"sp": SP_ENTITY, "email": MEMBER, **body},
        headers=headers or ADMIN,
    )


def minted(console: Any, **body: Any) -> tuple[dict[str, Any], etree._Element]:
    response = mint(console, **body)
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    root = etree.fromstring(base64.b64decode(document["saml_response"]))
    assert etree.tostring(root) == etree.tostring(etree.fromstring(document["xml"].encode()))
    return document, root


def signature_verifies(root: etree._Element, signed: etree._Element, console: Any) -> bool:
    """The signature directly inside ``signed`` verifies with the tenant's IdP certificate."""
    certificate = idp_certificates(console, "acme")[0]
    pem = "-----BEGIN CERTIFICATE-----\n" + certificate + "\n-----END CERTIFICATE-----\n"
    xmlsec.tree.add_ids(root, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    try:
        context.verify(signed.find("ds:Signature", NS))
    except xmlsec.Error:
        return False
    return True


def test_an_honest_minted_response_passes_a_strict_independent_sp(console: Any, sp: SamlTestSp) -> None:
    request_id, _ = sp.authn_request()
    document, _ = minted(console, in_response_to=request_id)

    response = sp.validate(document["saml_response"], request_id)

    assert response.get_attributes()["urn:oid:0.9.2342.19200300.100.1.3"] == [MEMBER]
    assert document["acs_url"] == "https://sp.example.org/acs"
    assert document["sign"] == "both"
    assert document["encrypted"] is False


@pytest.mark.parametrize(
    ("override", "onelogin_code"),
    [
        (
            {"audience": "https://someone-else.example/metadata"},
            OneLogin_Saml2_ValidationError.WRONG_AUDIENCE,
        ),
        (
            {"destination": "https://someone-else.example/acs"},
            OneLogin_Saml2_ValidationError.WRONG_DESTINATION,
        ),
        ({"not_on_or_after": -3600}, OneLogin_Saml2_ValidationError.ASSERTION_EXPIRED),
        ({"not_before": 3600}, OneLogin_Saml2_ValidationError.ASSERTION_TOO_EARLY),
        ({"issuer": "https://evil-idp.example/metadata"}, OneLogin_Saml2_ValidationError.WRONG_ISSUER),
        ({"status": {"code": "Responder"}}, OneLogin_Saml2_ValidationError.STATUS_CODE_IS_NOT_SUCCESS),
    ],
)
def test_a_validly_signed_but_wrong_response_is_refused_for_what_was_changed(
    console: Any, sp: SamlTestSp, override: dict[str, Any], onelogin_code: int
) -> None:
    request_id, _ = sp.authn_request()
    document, root = minted(console, in_response_to=request_id, **override)

    assert signature_verifies(root, root, console)
    with pytest.raises(OneLogin_Saml2_ValidationError) as refused:
        sp.validate(document["saml_response"], request_id)
    assert refused.value.code == onelogin_code


def test_times_are_instants_or_seconds_from_now_and_null_drops_them(console: Any, sp: SamlTestSp) -> None:
    _, root = minted(
        console, not_on_or_after=-600, issue_instant="2030-01-02T03:04:05Z", not_before=None, recipient=None
    )
    conditions = root.find("saml:Assertion/saml:Conditions", NS)
    expires = dt.datetime.fromisoformat(conditions.get("NotOnOrAfter"))
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() + 600) < 30
    assert "NotBefore" not in conditions.attrib
    assert root.get("IssueInstant") == "2030-01-02T03:04:05Z"
    assert root.find("saml:Assertion", NS).get("IssueInstant") == "2030-01-02T03:04:05Z"
    data = root.find("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert "Recipient" not in data.attrib
    assert signature_verifies(root, root.find("saml:Assertion", NS), console)


def test_name_id_attributes_status_version_and_no_assertion(console: Any, sp: SamlTestSp) -> None:
    _, root = minted(console, name_id={"value": "someone@else.test", "format": "email"})
    name_id = root.find("saml:Assertion/saml:Subject/saml:NameID", NS)
    assert (name_id.text, name_id.get("Format")) == (
        "someone@else.test",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    )

    _, root = minted(console, name_id=None, attributes={"member_status": "lapsed", "email": None})
    assert root.find("saml:Assertion/saml:Subject/saml:NameID", NS) is None
    values = {
        attribute.get("FriendlyName"): [value.text for value in attribute]
        for attribute in root.iterfind(".//saml:Attribute", NS)
    }
    assert values["member_status"] == ["lapsed"]
    assert "mail" not in values

    _, root = minted(console, status={"code": "Responder", "second_level": "AuthnFailed", "message": "no"})
    outer = root.find("samlp:Status/samlp:StatusCode", NS)
    assert outer.get("Value").endswith(":Responder")
    assert outer.find("samlp:StatusCode", NS).get("Value").endswith(":AuthnFailed")
    assert root.find("saml:Assertion", NS) is not None  # an error status that still carries an assertion

    document, root = minted(console, assertion=False, version="1.1", sign="response")
    assert root.find("saml:Assertion", NS) is None
    assert document["assertion_id"] is None
    assert root.get("Version") == "1.1"
    assert signature_verifies(root, root, console)


def test_what_is_signed_and_with_which_algorithms(console: Any, sp: SamlTestSp) -> None:
    _, root = minted(console, sign="none")
    assert root.find(".//ds:Signature", NS) is None

    _, root = minted(console, sign="assertion", signature_algorithm="rsa-sha1", digest_algorithm="sha1")
    assert root.find("ds:Signature", NS) is None
    assertion = root.find("saml:Assertion", NS)
    assert (
        assertion.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS)
        .get("Algorithm")
        .endswith("#rsa-sha1")
    )
    assert assertion.find(".//ds:DigestMethod", NS).get("Algorithm").endswith("#sha1")
    assert signature_verifies(root, assertion, console)


def test_encrypted_to_the_sp_decrypts_and_validates(console: Any, tenant: Any) -> None:
    test_sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"), want_encrypted=True)
    register(console, test_sp, sign="assertion")
    request_id, _ = test_sp.authn_request()

    document, root = minted(console, in_response_to=request_id, encrypt=True)

    assert document["encrypted"] is True
    assert root.find("saml:EncryptedAssertion", NS) is not None
    assert b"active.member" not in base64.b64decode(document["saml_response"])
    assert test_sp.validate(document["saml_response"], request_id).get_nameid()

    _, other_pem = self_signed_rsa("someone else")[1:]
    document, _ = minted(console, in_response_to=request_id, encrypt=True, encryption_certificate=other_pem)
    with pytest.raises(Exception):  # noqa: B017 - python3-saml cannot decrypt what was not encrypted to it
        test_sp.validate(document["saml_response"], request_id)


def test_bad_requests_are_refused_and_change_nothing(console: Any, sp: SamlTestSp, make_tenant: Any) -> None:
    assert (
        mint(console, sp="https://unknown.example/metadata").get_json()["code"]
        == "service_provider_not_found"
    )
    assert mint(console, email="nobody@demo.test").status_code == 404
    assert mint(console, member_id="M100001").status_code == 422  # both member_id and email
    assert mint(console, not_on_or_after=10**12).status_code == 422
    assert mint(console, audience=[]).status_code == 422
    bad_certificate = mint(console, encrypt=True, encryption_certificate="not a certificate")
    assert bad_certificate.status_code == 422
    assert bad_certificate.get_json()["errors"][0]["field"] == "encryption_certificate"
    other = make_tenant("bravo")
    assert mint(console, headers=other.auth).status_code == 404
    assert mint(console, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_tenant_key_mints_for_its_own_tenant(console: Any, sp: SamlTestSp, tenant: Any) -> None:
    assert mint(console, headers=tenant.auth).status_code == 201
