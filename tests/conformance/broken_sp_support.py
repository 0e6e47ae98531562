"""Driving the broken SAML SPs of conformance/broken offline: a Flask test client as the browser, and
:class:`tests.sso.saml_attacks.TestIdp` as the IdP (a sign-in starts at ``/login``, whose AuthnRequest ID
the redirect carries; responses go to ``/acs``; ``/whoami`` says who is signed in)."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from lxml import etree

from tests.sso.saml_attacks import NS, ResponseSpec, TestIdp, assertion_of, encode

BASE = "http://sp.test"
ACS = f"{BASE}/acs"
ENTITY_ID = f"{BASE}/metadata"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
ATTRIBUTES = {
    "urn:ams-lms-sandbox:attribute:member_id": ("member_id", "M1001"),
    MAIL: ("mail", "ada@example.org"),
    "urn:oid:2.5.4.42": ("givenName", "Ada"),
    "urn:oid:2.5.4.4": ("sn", "Lovelace"),
    "urn:ams-lms-sandbox:attribute:member_type": ("member_type", "regular"),
    "urn:ams-lms-sandbox:attribute:member_status": ("member_status", "active"),
}
MD_NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def minutes(count: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=count)


@dataclass
class Sp:
    """One SP app and one browser (a test client with its cookie jar), spoken to in domain words."""

    app: Flask
    idp: TestIdp

    def __post_init__(self) -> None:
        self.browser = self.app.test_client()

    def new_browser(self) -> None:
        self.browser = self.app.test_client()

    def login(self, return_to: str | None = None) -> tuple[etree._Element, str]:
        """GET /login; the AuthnRequest the redirect carries, and the redirect's raw query string."""
        response = self.browser.get("/login", query_string={"return_to": return_to} if return_to else None)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(self.idp.sso_url + "?")
        query = urlsplit(location).query
        deflated = base64.b64decode(parse_qs(query)["SAMLRequest"][0])
        return etree.fromstring(zlib.decompress(deflated, -15)), query

    def spec(self, **changes: Any) -> ResponseSpec:
        """An honest response to a fresh AuthnRequest of this SP; ``changes`` make it wrong."""
        values: dict[str, Any] = {
            "destination": ACS,
            "recipient": ACS,
            "audience": ENTITY_ID,
            "issuer": self.idp.entity_id,
            "attributes": {name: value for name, (_, value) in ATTRIBUTES.items()},
            "friendly_names": {name: friendly for name, (friendly, _) in ATTRIBUTES.items()},
        }
        values.update(changes)
        if "in_response_to" not in changes:
            values["in_response_to"] = self.login()[0].get("ID")
        return ResponseSpec(**values)

    def post(self, message: etree._Element | str | bytes, relay_state: str | None = None) -> Any:
        data = {"SAMLResponse": message if isinstance(message, str) else encode(message)}
        if relay_state is not None:
            data["RelayState"] = relay_state
        return self.browser.post("/acs", data=data)

    def whoami(self) -> Any:
        return self.browser.get("/whoami")

    def signed_in_as(self) -> str | None:
        response = self.whoami()
        return response.get_json()["name_id"] if response.status_code == 200 else None

    def sign_in(self) -> None:
        assert self.post(self.idp.signed_response(self.spec())).status_code == 302
        assert self.signed_in_as() == "M1001"


def split_by_comment(element: etree._Element, keep: str) -> None:
    """``<NameID>victim@x.test<!---->.evil.test</NameID>``: a comment after ``keep`` (the signature holds)."""
    rest = element.text[len(keep) :]
    element.text = keep
    comment = etree.Comment("")
    comment.tail = rest
    element.insert(0, comment)


def commented_name_id(sp: Sp) -> etree._Element:
    """The IdP signs ``victim@x.test.evil.test`` (NameID and mail); a comment is slipped in after signing."""
    spec = sp.spec(name_id="victim@x.test.evil.test", attributes={MAIL: "victim@x.test.evil.test"})
    root = sp.idp.signed_response(spec)
    split_by_comment(assertion_of(root).find("saml:Subject/saml:NameID", NS), "victim@x.test")
    split_by_comment(assertion_of(root).find(".//saml:AttributeValue", NS), "victim@x.test")
    return root


def replay(sp: Sp, message: str) -> Any:
    """Post ``message`` again, from another browser."""
    sp.new_browser()
    return sp.post(message)
