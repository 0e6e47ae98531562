"""The AMS SAML IdP, checked by a real SP implementation (python3-saml, strict mode)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from lxml import etree

from simulator.ams.idp.testing import SamlTestSp, form_fields
from tests.conftest import ADMIN

AMS_URL = "http://127.0.0.1:8001"
ACS = "https://sp.example.org/acs"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
MEMBER_TYPE = "urn:ams-lms-sandbox:attribute:member_type"


def idp_certificates(console: Any, tenant_id: str) -> list[str]:
    keys = console.get(f"/api/tenants/{tenant_id}/keys", headers=ADMIN).get_json()["keys"]
    return [
        "".join(line for line in key["certificate_pem"].splitlines() if "-----" not in line)
        for key in keys
        if key["state"] in ("active", "previous")
    ]


def register(console: Any, sp: SamlTestSp, tenant_id: str = "acme", **options: Any) -> Any:
    response = console.post(
        f"/api/tenants/{tenant_id}/saml/service-providers",
        json={"metadata_xml": sp.metadata(), **options},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sign_in(ams: Any, email: str = "active.member@demo.test", tenant_id: str = "acme") -> None:
    response = ams.post(f"/t/{tenant_id}/login", data={"email": email, "password": "demo"})
    assert response.status_code == 303


def sso_redirect(ams: Any, sp: SamlTestSp, relay_state: str = "course-42") -> tuple[str, Any]:
    request_id, saml_request = sp.authn_request(deflate=True)
    query = urlencode({"SAMLRequest": saml_request, "RelayState": relay_state})
    return request_id, ams.get(f"/t/acme/saml/sso?{query}")


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


@pytest.fixture
def sp(console: Any, tenant: Any) -> SamlTestSp:
    return SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))


def test_metadata_names_the_entity_endpoints_and_certificate(ams: Any, console: Any, tenant: Any) -> None:
    response = ams.get("/t/acme/saml/metadata")

    assert response.status_code == 200
    root = etree.fromstring(response.data)
    assert root.get("entityID") == f"{AMS_URL}/t/acme/saml/metadata"
    certificates = [element.text for element in root.iter(f"{DS}X509Certificate")]
    assert certificates == idp_certificates(console, "acme")
    locations = {element.get("Location") for element in root.iter() if element.get("Location")}
    assert locations == {f"{AMS_URL}/t/acme/saml/sso", f"{AMS_URL}/t/acme/saml/slo"}


def test_sp_initiated_redirect_binding_through_the_login_page(ams: Any, console: Any, sp: SamlTestSp) -> None:
    register(console, sp, sign="assertion")
    request_id, first = sso_redirect(ams, sp)
    assert first.status_code == 200
    login_action, login_fields = form_fields(first.get_data(as_text=True))
    assert login_action == "/t/acme/login"
    assert urlsplit(login_fields["next"]).path == "/t/acme/saml/sso"

    page = ams.post(
        login_action, data={"email": "active.member@demo.test", "password": "demo", **login_fields}
    )
    assert page.status_code == 200

    action, fields = form_fields(page.get_data(as_text=True))
    assert action == ACS
    assert fields["RelayState"] == "course-42"
    response = sp.validate(fields["SAMLResponse"], request_id)
    attributes = response.get_attributes()
    assert attributes[MAIL] == ["active.member@demo.test"]
    assert attributes[MEMBER_TYPE] == ["regular"]
    assert response.get_nameid() == attributes["urn:ams-lms-sandbox:attribute:member_id"][0]
    assert response.get_audiences() == [sp.settings["sp"]["entityId"]]


def test_sp_initiated_post_binding(ams: Any, console: Any, sp: SamlTestSp) -> None:
    register(console, sp)
    sign_in(ams)
    request_id, saml_request = sp.authn_request(deflate=False)

    page = ams.post("/t/acme/saml/sso", data={"SAMLRequest": saml_request, "RelayState": "x"})

    assert page.status_code == 200
    _, fields = form_fields(page.get_data(as_text=True))
    sp.validate(fields["SAMLResponse"], request_id)


def test_idp_initiated_login(ams: Any, console: Any, sp: SamlTestSp) -> None:
    register(console, sp, sign="response")
    sp.settings["security"].update(wantAssertionsSigned=False, wantMessagesSigned=True)
    sign_in(ams)
    query = urlencode({"sp": sp.settings["sp"]["entityId"], "RelayState": "/courses/1"})

    page = ams.get(f"/t/acme/saml/idp-initiated?{query}")

    action, fields = form_fields(page.get_data(as_text=True))
    assert action == ACS
    assert fields["RelayState"] == "/courses/1"
    xml = base64.b64decode(fields["SAMLResponse"])
    assert b"InResponseTo" not in xml
    sp.validate(fields["SAMLResponse"], None)


@pytest.mark.parametrize(
    ("sign", "signed_elements"),
    [("assertion", {"Assertion"}), ("response", {"Response"}), ("both", {"Assertion", "Response"})],
)
def test_signing_modes_use_rsa_sha256_only(
    ams: Any, console: Any, sp: SamlTestSp, sign: str, signed_elements: set[str]
) -> None:
    register(console, sp, sign=sign)
    sp.settings["security"].update(
        wantAssertionsSigned="Assertion" in signed_elements, wantMessagesSigned="Response" in signed_elements
    )
    sign_in(ams)
    request_id, page = sso_redirect(ams, sp)
    _, fields = form_fields(page.get_data(as_text=True))

    root = etree.fromstring(base64.b64decode(fields["SAMLResponse"]))
    signatures = list(root.iter(f"{DS}Signature"))
    assert {etree.QName(signature.getparent()).localname for signature in signatures} == signed_elements
    methods = {element.get("Algorithm") for element in root.iter(f"{DS}SignatureMethod")}
    digests = {element.get("Algorithm") for element in root.iter(f"{DS}DigestMethod")}
    assert methods == {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}
    assert digests == {"http://www.w3.org/2001/04/xmlenc#sha256"}
    sp.validate(fields["SAMLResponse"], request_id)


def test_assertion_is_encrypted_when_the_sp_asks(ams: Any, console: Any, sp: SamlTestSp) -> None:
    sp.settings["security"]["wantAssertionsEncrypted"] = True
    register(console, sp, sign="both", encrypt_assertion=True)
    sign_in(ams)
    request_id, page = sso_redirect(ams, sp)
    _, fields = form_fields(page.get_data(as_text=True))

    xml = base64.b64decode(fields["SAMLResponse"])
    assert b"EncryptedAssertion" in xml
    assert b"active.member@demo.test" not in xml
    response = sp.validate(fields["SAMLResponse"], request_id)
    assert response.get_attributes()[MAIL] == ["active.member@demo.test"]


def test_email_name_id_when_the_sp_asks_for_it(ams: Any, console: Any, tenant: Any) -> None:
    sp = SamlTestSp.create(
        AMS_URL,
        "acme",
        idp_certificates(console, "acme"),
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    )
    register(console, sp)
    sign_in(ams)
    request_id, page = sso_redirect(ams, sp)
    _, fields = form_fields(page.get_data(as_text=True))

    assert sp.validate(fields["SAMLResponse"], request_id).get_nameid() == "active.member@demo.test"


def test_unknown_sp_gets_an_error_page_not_a_redirect(ams: Any, sp: SamlTestSp) -> None:
    sign_in(ams)
    _, page = sso_redirect(ams, sp)

    assert page.status_code == 403
    assert "Location" not in page.headers
    assert "not registered" in page.get_data(as_text=True)
    assert "SAMLResponse" not in page.get_data(as_text=True)


def test_unregistered_acs_url_gets_an_error_page(ams: Any, console: Any, sp: SamlTestSp) -> None:
    register(console, sp)
    sign_in(ams)
    evil = SamlTestSp.create(
        AMS_URL, "acme", [], entity_id=sp.settings["sp"]["entityId"], acs_url="https://evil.example/acs"
    )
    _, page = sso_redirect(ams, evil)

    assert page.status_code == 403
    assert "Location" not in page.headers
    assert "evil.example" not in page.get_data(as_text=True)


XML_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0">'
    "&lol3;</samlp:AuthnRequest>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0">'
    "&xxe;</samlp:AuthnRequest>"
)


@pytest.mark.parametrize("document", [XML_BOMB, EXTERNAL_ENTITY])
def test_hostile_authn_requests_are_refused_and_the_app_stays_healthy(
    ams: Any, tenant: Any, document: str
) -> None:
    encoded = base64.b64encode(document.encode()).decode()

    page = ams.post("/t/acme/saml/sso", data={"SAMLRequest": encoded})

    assert page.status_code == 400
    assert "root:" not in page.get_data(as_text=True)
    assert ams.get("/healthz").status_code == 200


def test_key_rotation_publishes_both_certificates_and_signs_with_the_new_key(
    ams: Any, console: Any, sp: SamlTestSp
) -> None:
    register(console, sp)
    old = idp_certificates(console, "acme")
    rotated = console.post("/api/tenants/acme/keys/rotate", headers=ADMIN)
    assert rotated.status_code == 200
    both = idp_certificates(console, "acme")
    assert len(both) == 2 and old[0] in both
    new = [cert for cert in both if cert not in old]

    metadata = etree.fromstring(ams.get("/t/acme/saml/metadata").data)
    assert sorted(element.text for element in metadata.iter(f"{DS}X509Certificate")) == sorted(both)

    sign_in(ams)
    sp.settings["idp"]["x509certMulti"]["signing"] = list(new)
    request_id, page = sso_redirect(ams, sp)
    _, fields = form_fields(page.get_data(as_text=True))
    sp.validate(fields["SAMLResponse"], request_id)

    assert console.post("/api/tenants/acme/keys/retire-previous", headers=ADMIN).status_code == 200
    metadata = etree.fromstring(ams.get("/t/acme/saml/metadata").data)
    assert [element.text for element in metadata.iter(f"{DS}X509Certificate")] == new


def test_keys_survive_a_tenant_reset(console: Any, tenant: Any) -> None:
    before = idp_certificates(console, "acme")

    assert console.post("/api/tenants/acme/reset", headers=ADMIN).status_code == 200

    assert idp_certificates(console, "acme") == before


def test_single_logout_answers_the_sp_and_ends_the_session(ams: Any, console: Any, sp: SamlTestSp) -> None:
    register(console, sp)
    sign_in(ams)
    request_id, saml_request = sp.logout_request(name_id="M100001")

    page = ams.get(f"/t/acme/saml/slo?{urlencode({'SAMLRequest': saml_request, 'RelayState': 'bye'})}")

    assert page.status_code == 200
    action, fields = form_fields(page.get_data(as_text=True))
    assert action == "https://sp.example.org/slo"
    assert fields["RelayState"] == "bye"
    root = etree.fromstring(base64.b64decode(fields["SAMLResponse"]))
    assert root.get("InResponseTo") == request_id
    assert root.get("Destination") == "https://sp.example.org/slo"
    status = root.find(".//{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode")
    assert status.get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert sp.signature_verifies(base64.b64decode(fields["SAMLResponse"]))
    assert ams.get("/t/acme/login/done").status_code == 302


def test_the_release_rules_decide_what_is_released_not_the_attributes_an_sp_requests(
    ams: Any, console: Any, sp: SamlTestSp
) -> None:
    """An SP whose metadata requests only the email (and requires an attribute the AMS does not have)
    still receives everything its release rules allow: the response is not cut down or refused."""
    sp.settings["sp"]["attributeConsumingService"] = {
        "serviceName": "Test SP",
        "requestedAttributes": [
            {"name": MAIL, "isRequired": True, "friendlyName": "mail"},
            {"name": "urn:example:not-released", "isRequired": True},
        ],
    }
    assert "RequestedAttribute" in sp.metadata()
    register(console, sp)
    sign_in(ams)
    request_id, page = sso_redirect(ams, sp)
    _, fields = form_fields(page.get_data(as_text=True))

    attributes = sp.validate(fields["SAMLResponse"], request_id).get_attributes()
    assert attributes[MAIL] == ["active.member@demo.test"]
    assert attributes["urn:ams-lms-sandbox:attribute:member_status"] == ["active"]
    assert "urn:example:not-released" not in attributes
