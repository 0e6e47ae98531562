"""Helpers for driving the AMS IdP from tests and scenarios: a real SP (python3-saml), forms, login.

python3-saml (``onelogin``) is a test dependency; it is imported only when a helper needs it.

Example::

    sp = SamlTestSp.create(ams_url="http://127.0.0.1:8001", tenant="acme", idp_certificate=cert_b64)
    console.post(f"/api/tenants/acme/saml/service-providers", json={"metadata_xml": sp.metadata()}, ...)
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from simulator.ams.idp.keys import generate_key_material

POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of an auto-submitting form page."""
    action = _FORM_ACTION.search(page)
    if action is None:
        raise AssertionError("no form on the page")
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}
    return html.unescape(action.group(1)), fields


def _strip_pem(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "-----" not in line)


@dataclass
class SamlTestSp:
    """A python3-saml service provider configured against one tenant of the AMS IdP."""

    settings: dict[str, Any]
    private_key_pem: str
    certificate_pem: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        ams_url: str,
        tenant: str,
        idp_certificates: list[str],
        entity_id: str = "https://sp.example.org/metadata",
        acs_url: str = "https://sp.example.org/acs",
        want_encrypted: bool = False,
        want_assertion_signed: bool = True,
        want_response_signed: bool = False,
        name_id_format: str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    ) -> SamlTestSp:
        _, key_pem, cert_pem = generate_key_material("test sp")
        idp_base = f"{ams_url}/t/{tenant}/saml"
        settings = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": entity_id,
                "assertionConsumerService": {"url": acs_url, "binding": POST_BINDING},
                "singleLogoutService": {"url": acs_url.replace("/acs", "/slo"), "binding": POST_BINDING},
                "NameIDFormat": name_id_format,
                "x509cert": _strip_pem(cert_pem),
                "privateKey": key_pem,
            },
            "idp": {
                "entityId": f"{idp_base}/metadata",
                "singleSignOnService": {"url": f"{idp_base}/sso", "binding": REDIRECT_BINDING},
                "singleLogoutService": {"url": f"{idp_base}/slo", "binding": REDIRECT_BINDING},
                "x509certMulti": {"signing": idp_certificates, "encryption": idp_certificates},
            },
            "security": {
                "wantAssertionsSigned": want_assertion_signed,
                "wantMessagesSigned": want_response_signed,
                "wantAssertionsEncrypted": want_encrypted,
                "wantNameId": True,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            },
        }
        return cls(settings, key_pem, cert_pem)

    def _saml_settings(self) -> Any:
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        return OneLogin_Saml2_Settings(self.settings, sp_validation_only=True)

    def metadata(self) -> str:
        """The SP's metadata (signing and encryption certificates, ACS, SLO)."""
        return self._saml_settings().get_sp_metadata().decode()

    def authn_request(self, deflate: bool = True) -> tuple[str, str]:
        """(request id, SAMLRequest): deflated for HTTP-Redirect, plain base64 for HTTP-POST."""
        from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request

        request = OneLogin_Saml2_Authn_Request(self._saml_settings())
        return request.get_id(), request.get_request(deflate=deflate)

    def validate(self, saml_response: str, request_id: str | None) -> Any:
        """Validate a response as python3-saml does at the ACS (raises on any failure)."""
        from urllib.parse import urlsplit

        from onelogin.saml2.response import OneLogin_Saml2_Response

        acs = urlsplit(self.settings["sp"]["assertionConsumerService"]["url"])
        request_data = {
            "https": "on" if acs.scheme == "https" else "off",
            "http_host": acs.netloc,
            "script_name": acs.path,
        }
        response = OneLogin_Saml2_Response(self._saml_settings(), saml_response)
        response.is_valid(request_data, request_id, raise_exceptions=True)
        return response

    def logout_request(self, name_id: str) -> tuple[str, str]:
        """(request id, deflated SAMLRequest) of a LogoutRequest for HTTP-Redirect."""
        from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request

        request = OneLogin_Saml2_Logout_Request(self._saml_settings(), name_id=name_id)
        return request.id, request.get_request(deflate=True)

    def signature_verifies(self, xml: bytes) -> bool:
        """True when the root element's signature verifies with one of the IdP's certificates."""
        from onelogin.saml2.utils import OneLogin_Saml2_Utils

        certificates = self.settings["idp"]["x509certMulti"]["signing"]
        return any(
            OneLogin_Saml2_Utils.validate_sign(
                xml, OneLogin_Saml2_Utils.format_cert(cert), xpath="/samlp:LogoutResponse/ds:Signature"
            )
            for cert in certificates
        )
