"""Signed AuthnRequests: an SP whose metadata says AuthnRequestsSigned="true" must sign, and is checked.

Requests are made and signed by python3-saml (HTTP-Redirect: SigAlg + Signature over the query;
HTTP-POST: an enveloped signature), then tampered with by hand. Refusals are error pages, never
redirects.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from simulator.ams.idp.testing import SamlTestSp, form_fields
from tests.sso.test_idp_saml import AMS_URL, idp_certificates, register, sign_in

RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


def signing_sp(console: Any, entity_id: str = "https://signed-sp.example.org/metadata") -> SamlTestSp:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"), entity_id=entity_id)
    sp.settings["security"]["authnRequestsSigned"] = True
    return sp


def settings_of(sp: SamlTestSp) -> OneLogin_Saml2_Settings:
    return OneLogin_Saml2_Settings(sp.settings, sp_validation_only=False)


def signed_redirect_query(sp: SamlTestSp, relay_state: str = "course-42") -> str:
    """python3-saml's own HTTP-Redirect login URL (SAMLRequest, RelayState, SigAlg, Signature)."""
    request_data = {"https": "on", "http_host": "sp.example.org", "script_name": "/acs"}
    url = OneLogin_Saml2_Auth(request_data, settings_of(sp)).login(return_to=relay_state)
    return urlsplit(url).query


def signed_post_request(sp: SamlTestSp, key_pem: str | None = None) -> str:
    """An AuthnRequest with an enveloped RSA-SHA256 signature, base64 for the HTTP-POST binding."""
    xml = OneLogin_Saml2_Authn_Request(settings_of(sp)).get_xml()
    signed = OneLogin_Saml2_Utils.add_sign(
        xml,
        key_pem or sp.private_key_pem,
        sp.certificate_pem,
        sign_algorithm=RSA_SHA256,
        digest_algorithm=SHA256,
    )
    return base64.b64encode(signed).decode()


def assert_refused(response: Any) -> None:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert "sign" in response.get_data(as_text=True).lower()


def test_a_signed_redirect_request_is_answered_after_sign_in(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    assert 'AuthnRequestsSigned="true"' in sp.metadata()
    register(console, sp, sign="assertion")
    first = ams.get(f"/t/acme/saml/sso?{signed_redirect_query(sp)}")
    assert first.status_code == 200  # the login form, served at the SSO URL
    next_url = form_fields(first.get_data(as_text=True))[1]["next"]

    sign_in(ams)
    page = ams.get(next_url)  # the resumed request still carries its signature, which still verifies

    assert page.status_code == 200, page.get_data(as_text=True)
    action, fields = form_fields(page.get_data(as_text=True))
    assert action == "https://sp.example.org/acs"
    assert fields["RelayState"] == "course-42"
    sp.validate(fields["SAMLResponse"], _request_id(fields["SAMLResponse"]))


def _request_id(saml_response: str) -> str:
    from lxml import etree

    return etree.fromstring(base64.b64decode(saml_response)).get("InResponseTo")


def test_an_unsigned_request_from_a_signing_sp_gets_an_error_page(
    ams: Any, console: Any, tenant: Any
) -> None:
    sp = signing_sp(console)
    register(console, sp)
    sign_in(ams)
    _, saml_request = sp.authn_request(deflate=True)

    assert_refused(ams.get(f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request})}"))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q: q.replace("RelayState=course-42", "RelayState=course-43"), id="relay-state"),
        pytest.param(lambda q: q.replace("Signature=", "Signature=AAAA"), id="signature-bytes"),
        pytest.param(
            lambda q: "&".join(p for p in q.split("&") if not p.startswith("Signature=")), id="stripped"
        ),
        pytest.param(
            lambda q: q.replace(quote_plus(RSA_SHA256), quote_plus(RSA_SHA1)), id="sigalg-swapped-to-sha1"
        ),
    ],
)
def test_a_tampered_redirect_request_gets_an_error_page(
    ams: Any, console: Any, tenant: Any, tamper: Any
) -> None:
    sp = signing_sp(console)
    register(console, sp)
    sign_in(ams)
    query = signed_redirect_query(sp)
    assert "RelayState=course-42" in query

    assert_refused(ams.get(f"/t/acme/saml/sso?{tamper(query)}"))


def test_a_redirect_request_signed_with_sha1_gets_an_error_page(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    register(console, sp)
    sign_in(ams)
    _, saml_request = sp.authn_request(deflate=True)
    signed = f"SAMLRequest={quote_plus(saml_request)}&SigAlg={quote_plus(RSA_SHA1)}"
    key = serialization.load_pem_private_key(sp.private_key_pem.encode(), password=None)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA1())  # the attack: SHA-1
    query = f"{signed}&Signature={quote_plus(base64.b64encode(signature).decode())}"

    assert_refused(ams.get(f"/t/acme/saml/sso?{query}"))


def test_a_request_signed_by_another_key_gets_an_error_page(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    register(console, sp)
    impostor = signing_sp(console)  # same settings, its own fresh key pair
    impostor.settings["sp"]["entityId"] = sp.settings["sp"]["entityId"]
    sign_in(ams)

    assert_refused(ams.get(f"/t/acme/saml/sso?{signed_redirect_query(impostor)}"))
    assert_refused(ams.post("/t/acme/saml/sso", data={"SAMLRequest": signed_post_request(impostor)}))


def test_a_signed_post_request_is_answered(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    register(console, sp)
    sign_in(ams)

    page = ams.post("/t/acme/saml/sso", data={"SAMLRequest": signed_post_request(sp)})

    assert page.status_code == 200, page.get_data(as_text=True)
    assert "SAMLResponse" in form_fields(page.get_data(as_text=True))[1]


def test_unsigned_or_altered_post_requests_get_an_error_page(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    register(console, sp)
    sign_in(ams)
    _, unsigned = sp.authn_request(deflate=False)
    signed_xml = base64.b64decode(signed_post_request(sp)).decode()
    altered = signed_xml.replace('ForceAuthn="false"', 'ForceAuthn="true"', 1)
    if altered == signed_xml:
        altered = signed_xml.replace("<samlp:AuthnRequest ", '<samlp:AuthnRequest ForceAuthn="true" ', 1)

    assert_refused(ams.post("/t/acme/saml/sso", data={"SAMLRequest": unsigned}))
    assert_refused(
        ams.post("/t/acme/saml/sso", data={"SAMLRequest": base64.b64encode(altered.encode()).decode()})
    )


def test_re_registering_an_sp_as_signing_is_enforced_at_once(ams: Any, console: Any, tenant: Any) -> None:
    sp = signing_sp(console)
    sp.settings["security"]["authnRequestsSigned"] = False
    register(console, sp)
    sign_in(ams)
    _, saml_request = sp.authn_request(deflate=True)
    unsigned = f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request})}"
    assert ams.get(unsigned).status_code == 200  # answered: this SP does not sign (cached IdP built)

    sp.settings["security"]["authnRequestsSigned"] = True
    register(console, sp)

    assert_refused(ams.get(unsigned))
