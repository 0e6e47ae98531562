"""SAML metadata: reading a service provider's (safely) and writing the IdP's own.

SP metadata arrives from integrators, so it is parsed without entities, DTDs or network access and with
a size limit (SAML metadata 2.0 §2.4.4 SPSSODescriptor); anything else is a 422 with a plain message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from simulator.ams.idp.keys import ParsedKey
from simulator.core.errors import ValidationFailed
from simulator.core.untrusted_xml import UnreadableXml, parse_untrusted

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
MAX_METADATA_BYTES = 1_000_000


@dataclass
class SpMetadata:
    """What the IdP needs from an SP's metadata."""

    entity_id: str
    acs: list[dict[str, Any]] = field(default_factory=list)
    slo: list[dict[str, Any]] = field(default_factory=list)
    encryption_certificates: list[str] = field(default_factory=list)
    signing_certificates: list[str] = field(default_factory=list)
    authn_requests_signed: bool = False


def invalid_metadata(message: str) -> ValidationFailed:
    """The 422 ``invalid_metadata`` refusal, its message also given for the field ``metadata_xml``."""
    return ValidationFailed(
        message, code="invalid_metadata", errors=[{"field": "metadata_xml", "message": message}]
    )


def _certificates(descriptor: etree._Element, use: str) -> list[str]:
    found = []
    for key in descriptor.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if key.get("use") in (None, use):
            for cert in key.iterfind(f".//{{{DS_NS}}}X509Certificate"):
                found.append("".join((cert.text or "").split()))
    return [cert for cert in found if cert]


def _index(endpoint: etree._Element) -> int:
    """An indexed endpoint's ``index`` (SAML metadata 2.0 §2.2.3: an unsigned short)."""
    index = endpoint.get("index", "0")
    if not index.isdigit() or int(index) > 65535:
        raise invalid_metadata(
            f"The AssertionConsumerService index {index!r} is not a number from 0 to 65535."
        )
    return int(index)


def parse_sp_metadata(xml: str) -> SpMetadata:
    """The entity id, ACS and SLO endpoints and encryption certificates of an SP's metadata."""
    if len(xml.encode()) > MAX_METADATA_BYTES:
        raise invalid_metadata("The metadata is larger than 1 MB.")
    try:
        root = parse_untrusted(xml, "The metadata")
    except UnreadableXml as exc:
        raise invalid_metadata(str(exc)) from exc
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise invalid_metadata("The metadata must be one md:EntityDescriptor.")
    entity_id = root.get("entityID")
    descriptor = root.find(f"{{{MD_NS}}}SPSSODescriptor")
    if not entity_id or descriptor is None:
        raise invalid_metadata("The metadata needs an entityID and an md:SPSSODescriptor.")
    acs = [
        {
            "binding": element.get("Binding"),
            "location": element.get("Location"),
            "index": _index(element),
            "is_default": element.get("isDefault") == "true",
        }
        for element in descriptor.findall(f"{{{MD_NS}}}AssertionConsumerService")
        if element.get("Location")
    ]
    if not any(endpoint["binding"] == BINDING_POST for endpoint in acs):
        raise invalid_metadata("The SP has no AssertionConsumerService with the HTTP-POST binding.")
    slo = [
        {"binding": element.get("Binding"), "location": element.get("Location")}
        for element in descriptor.findall(f"{{{MD_NS}}}SingleLogoutService")
        if element.get("Location")
    ]
    return SpMetadata(
        entity_id,
        acs,
        slo,
        _certificates(descriptor, "encryption"),
        _certificates(descriptor, "signing"),
        descriptor.get("AuthnRequestsSigned") in ("true", "1"),
    )


def idp_metadata(entity_id: str, sso_url: str, slo_url: str, keys: list[ParsedKey]) -> str:
    """The IdP's EntityDescriptor: every published signing certificate, SSO and SLO endpoints."""
    md = f"{{{MD_NS}}}"
    root = etree.Element(md + "EntityDescriptor", nsmap={"md": MD_NS, "ds": DS_NS}, entityID=entity_id)
    descriptor = etree.SubElement(
        root,
        md + "IDPSSODescriptor",
        protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
        WantAuthnRequestsSigned="false",
    )
    for key in keys:
        key_descriptor = etree.SubElement(descriptor, md + "KeyDescriptor", use="signing")
        key_info = etree.SubElement(key_descriptor, f"{{{DS_NS}}}KeyInfo")
        etree.SubElement(key_info, f"{{{DS_NS}}}KeyName").text = key.kid
        x509 = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
        etree.SubElement(x509, f"{{{DS_NS}}}X509Certificate").text = key.certificate_base64
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(descriptor, md + "SingleLogoutService", Binding=binding, Location=slo_url)
    for name_format in (NAMEID_PERSISTENT, NAMEID_EMAIL):
        etree.SubElement(descriptor, md + "NameIDFormat").text = name_format
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(descriptor, md + "SingleSignOnService", Binding=binding, Location=sso_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()
