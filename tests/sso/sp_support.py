"""Helpers for the LMS service-provider tests: a tenant trusting a test IdP, driven in domain words."""

from __future__ import annotations

import base64
import html
import re
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from simulator.config import SandboxConfig
from simulator.lms.sso import remote
from tests.conftest import ADMIN
from tests.sso.saml_attacks import ResponseSpec, TestIdp, encode

TENANT = "acme"


def patch_settings(console: Any, tenant_id: str, patch: dict[str, Any]) -> None:
    response = console.patch(f"/api/tenants/{tenant_id}/settings", json=patch, headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    remote.clear_cache()


def page_code(response: Any) -> str | None:
    """The error reference an SSO page shows (``<code id="code">…</code>``)."""
    match = re.search(r'<code id="code">([^<]+)</code>', response.get_data(as_text=True))
    return match.group(1) if match else None


@dataclass
class SamlWorld:
    """The LMS tenant ``acme`` trusting :attr:`idp`, whose metadata the peer server publishes."""

    lms: Any
    console: Any
    config: SandboxConfig
    idp: TestIdp
    tenant: str = TENANT

    @property
    def acs(self) -> str:
        return f"{self.config.lms_url}/t/{self.tenant}/saml/acs"

    @property
    def entity_id(self) -> str:
        return f"{self.config.lms_url}/t/{self.tenant}/saml/metadata"

    def spec(self, **changes: Any) -> ResponseSpec:
        values: dict[str, Any] = {
            "destination": self.acs,
            "recipient": self.acs,
            "audience": self.entity_id,
            "issuer": self.idp.entity_id,
            "attributes": {
                "urn:ams-lms-sandbox:attribute:member_id": "M1001",
                "urn:oid:0.9.2342.19200300.100.1.3": "ada@example.org",
                "urn:oid:2.5.4.42": "Ada",
                "urn:oid:2.5.4.4": "Lovelace",
                "urn:ams-lms-sandbox:attribute:member_type": "regular",
                "urn:ams-lms-sandbox:attribute:member_status": "active",
                "urn:ams-lms-sandbox:attribute:record_type": "member",
            },
        }
        values.update(changes)
        return ResponseSpec(**values)

    def start_login(self, return_to: str | None = None) -> tuple[str, dict[str, list[str]]]:
        """GET /login; returns the AuthnRequest's ID and the redirect's query parameters."""
        query = {"return_to": return_to} if return_to else None
        response = self.lms.get(f"/t/{self.tenant}/login", query_string=query)
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(self.idp.sso_url + "?")
        params = parse_qs(urlsplit(location).query)
        request_xml = zlib.decompress(base64.b64decode(params["SAMLRequest"][0]), -15)
        return etree.fromstring(request_xml).get("ID"), params

    def post(self, response: Any, relay_state: str | None = None) -> Any:
        form = {"SAMLResponse": response if isinstance(response, str) else encode(response)}
        if relay_state is not None:
            form["RelayState"] = relay_state
        return self.lms.post(f"/t/{self.tenant}/saml/acs", data=form)

    def me(self, tenant: str | None = None) -> Any:
        return self.lms.get(f"/t/{tenant or self.tenant}/me")


def form_action_and_fields(page: str) -> tuple[str, dict[str, str]]:
    """The first form's action and its named inputs' values (hidden or not), HTML-unescaped."""
    form = re.search(r"<form\b[^>]*>(.*?)</form>", page, re.DOTALL | re.IGNORECASE)
    assert form is not None, page[:500]
    action = re.search(r'action="([^"]*)"', form.group(0))
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form.group(1), re.IGNORECASE):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    return html.unescape(action.group(1)) if action else "", fields
