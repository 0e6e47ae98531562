"""The in-process caches on the sign-in hot path never serve stale trust: changes are seen at once.

Cached: the AMS's pysaml2 server per tenant (SPs, key, settings) and the AuthnRequests it accepted, the
LMS's parsed IdP metadata, its python3-saml settings and the compiled SAML schemas. A key rotation, an SP
registered again or removed, and a changed IdP metadata document each take effect on the very next
request; the schema check still refuses what it refused.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from lxml import etree

from simulator.ams.idp.testing import SamlTestSp, form_fields
from simulator.core.settings import SsoSettings
from simulator.lms.sso.saml import idp as lms_idp
from simulator.lms.sso.saml.schema import validate_xml
from simulator.lms.sso.saml.sp import onelogin_settings
from tests.conftest import ADMIN
from tests.sso.test_idp_saml import AMS_URL, idp_certificates, register, sign_in

DS = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


def answered(ams: Any, sp: SamlTestSp) -> Any:
    _, saml_request = sp.authn_request(deflate=True)
    return ams.get(f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request})}")


def signing_certificate(page: Any) -> str:
    response = base64.b64decode(form_fields(page.get_data(as_text=True))[1]["SAMLResponse"])
    return etree.fromstring(response).find(f".//{DS}X509Certificate").text


def test_a_key_rotation_signs_the_next_response_with_the_new_key(ams: Any, console: Any, tenant: Any) -> None:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    register(console, sp)
    sign_in(ams)
    before = signing_certificate(answered(ams, sp))  # the tenant's IdP is now cached

    console.post("/api/tenants/acme/keys/rotate", headers=ADMIN)

    after = signing_certificate(answered(ams, sp))
    keys = console.get("/api/tenants/acme/keys", headers=ADMIN).get_json()["keys"]
    active = next(key for key in keys if key["state"] == "active")["certificate_pem"]
    assert after != before
    assert after == "".join(line for line in active.splitlines() if "-----" not in line)


def test_a_re_registered_acs_url_is_used_at_once(ams: Any, console: Any, tenant: Any) -> None:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    register(console, sp)
    sign_in(ams)
    assert form_fields(answered(ams, sp).get_data(as_text=True))[0] == "https://sp.example.org/acs"

    moved = SamlTestSp.create(AMS_URL, "acme", [], acs_url="https://sp.example.org/new/acs")
    register(console, moved)

    assert form_fields(answered(ams, moved).get_data(as_text=True))[0] == "https://sp.example.org/new/acs"


def test_a_deleted_sp_is_refused_at_once(ams: Any, console: Any, tenant: Any) -> None:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    registered = register(console, sp)
    sign_in(ams)
    assert answered(ams, sp).status_code == 200

    console.delete(f"/api/tenants/acme/saml/service-providers/{registered['id']}", headers=ADMIN)

    refused = answered(ams, sp)
    assert refused.status_code == 403
    assert "Location" not in refused.headers


def test_a_request_accepted_before_the_login_form_is_refused_after_it_once_its_sp_is_deleted(
    ams: Any, console: Any, tenant: Any
) -> None:
    sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    registered = register(console, sp)
    _, saml_request = sp.authn_request(deflate=True)
    url = f"/t/acme/saml/sso?{urlencode({'SAMLRequest': saml_request})}"
    login_page = ams.get(url)
    assert login_page.status_code == 200  # accepted: the login form, served in place
    action, fields = form_fields(login_page.get_data(as_text=True))
    assert fields["next"] == url

    console.delete(f"/api/tenants/acme/saml/service-providers/{registered['id']}", headers=ADMIN)
    refused = ams.post(action, data={**fields, "email": "active.member@demo.test", "password": "demo"})

    assert refused.status_code == 403  # the same request, continued by the login form's POST
    assert "Location" not in refused.headers
    assert "SAMLResponse" not in refused.get_data(as_text=True)
    assert ams.get(url).status_code == 403  # and again, now signed in


def test_the_compiled_schema_still_refuses_invalid_messages_every_time() -> None:
    samlp = "urn:oasis:names:tc:SAML:2.0:protocol"
    valid = (
        f'<samlp:Response xmlns:samlp="{samlp}" ID="_r1" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        "</samlp:Response>"
    )
    invalid = valid.replace(' Version="2.0"', "")

    for _ in range(3):
        assert validate_xml(invalid, "saml-schema-protocol-2.0.xsd") == "invalid_xml"
        assert validate_xml(valid, "saml-schema-protocol-2.0.xsd").get("ID") == "_r1"
    assert validate_xml("<unclosed", "saml-schema-protocol-2.0.xsd") == "unloaded_xml"


def test_the_lms_reads_a_changed_idp_metadata_document_again(
    ams: Any, config: Any, db: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ams.get("/t/acme/saml/metadata").get_data(as_text=True)
    rotated = first.replace("/t/acme/saml/sso", "/t/acme/saml/sso-moved")
    documents = iter([first, first, rotated])
    monkeypatch.setattr(lms_idp, "fetch_text", lambda url, refresh=False: next(documents))
    sso = SsoSettings()

    one = lms_idp.identity_provider(config, "acme", sso)
    again = lms_idp.identity_provider(config, "acme", sso)
    changed = lms_idp.identity_provider(config, "acme", sso)

    assert again is one  # parsed once while the document is unchanged
    assert changed.sso_url.endswith("/saml/sso-moved")
    assert onelogin_settings(db, config, "acme", changed) is not onelogin_settings(db, config, "acme", one)
    assert (
        onelogin_settings(db, config, "acme", changed)
        .get_idp_data()["singleSignOnService"]["url"]
        .endswith("/saml/sso-moved")
    )
