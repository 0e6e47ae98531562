"""An AMS SAML assertion expires `sso.assertion_lifetime_seconds` after its IssueInstant (default 300 s):
in its Conditions and in its bearer SubjectConfirmationData, whether a member signs in or a response is
minted through the control API."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from lxml import etree

from simulator.ams.idp.testing import SamlTestSp, form_fields
from tests.conftest import ADMIN
from tests.sso.test_idp_saml import AMS_URL, idp_certificates, register, sign_in

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"


def set_lifetime(console: Any, seconds: int | None) -> int:
    """Set the tenant's assertion lifetime (None: leave the default); returns the lifetime in force."""
    if seconds is not None:
        patch = {"sso": {"assertion_lifetime_seconds": seconds}}
        response = console.patch("/api/tenants/acme/settings", json=patch, headers=ADMIN)
        assert response.status_code == 200, response.get_json()
    return console.get("/api/tenants/acme/settings", headers=ADMIN).get_json()["sso"][
        "assertion_lifetime_seconds"
    ]


def validity(saml_response: str) -> tuple[float, float]:
    """Seconds from the assertion's IssueInstant to its Conditions and its bearer confirmation expiry."""
    assertion = etree.fromstring(base64.b64decode(saml_response)).find(f"{SAML}Assertion")
    issued = dt.datetime.fromisoformat(assertion.get("IssueInstant"))
    conditions = assertion.find(f"{SAML}Conditions")
    [confirmation] = assertion.findall(f"{SAML}Subject/{SAML}SubjectConfirmation")
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = confirmation.find(f"{SAML}SubjectConfirmationData")
    return tuple(  # type: ignore[return-value]
        (dt.datetime.fromisoformat(element.get("NotOnOrAfter")) - issued).total_seconds()
        for element in (conditions, data)
    )


@pytest.fixture
def sp(console: Any, make_tenant: Any) -> SamlTestSp:
    make_tenant("acme")
    test_sp = SamlTestSp.create(AMS_URL, "acme", idp_certificates(console, "acme"))
    register(console, test_sp, sign="both")
    return test_sp


@pytest.mark.parametrize("setting", [None, 90, 7200])
def test_a_sign_in_gets_an_assertion_that_lives_as_long_as_the_setting_says(
    ams: Any, console: Any, sp: SamlTestSp, setting: int | None
) -> None:
    lifetime = set_lifetime(console, setting)
    sign_in(ams)
    request_id, saml_request = sp.authn_request(deflate=False)

    page = ams.post("/t/acme/saml/sso", data={"SAMLRequest": saml_request, "RelayState": "x"})

    assert page.status_code == 200
    _, fields = form_fields(page.get_data(as_text=True))
    assert lifetime == (setting or 300)
    assert validity(fields["SAMLResponse"]) == (lifetime, lifetime)
    sp.validate(fields["SAMLResponse"], request_id)  # and a strict SP still takes it


@pytest.mark.parametrize("setting", [None, 45])
def test_a_minted_response_lives_as_long_as_the_setting_says(
    console: Any, sp: SamlTestSp, setting: int | None
) -> None:
    lifetime = set_lifetime(console, setting)

    response = console.post(
        "/api/tenants/acme/saml/responses",
        json={"sp": sp.settings["sp"]["entityId"], "email": "active.member@demo.test"},
        headers=ADMIN,
    )

    assert response.status_code == 201, response.get_json()
    assert lifetime == (setting or 300)
    assert validity(response.get_json()["saml_response"]) == (lifetime, lifetime)
