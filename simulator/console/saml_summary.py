"""Reading a SAML 2.0 message for a person: parse it safely, then summarise what an integrator checks.

:func:`parse_saml_xml` refuses XML that declares a DOCTYPE or entities (XXE, entity expansion) before
parsing, then parses without entity resolution, DTD loading or network access and checks again that no
DTD came through. :func:`summarize_saml` names the message (SAML 2.0 Core §3), its status, each
assertion's subject, conditions, authentication statement and attributes (§2), each encrypted
assertion's algorithms (§2.3.4), and what each ``ds:Signature`` signs (§5.4.2: its ``Reference`` URI must
point at the ID of the element that holds it). No signature is verified. Used by
:mod:`simulator.console.decoding`.

Example::

    root = parse_saml_xml("SAMLResponse", xml_bytes, 256 * 1024)
    summarize_saml(root, notes := [])["assertions"][0]["conditions"]["audiences"]
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree

from simulator.core.redaction import REDACTED

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_SAFE_PARSER = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": False,
}


class DecodeError(ValueError):
    """A message that cannot be shown; its text is one plain sentence for the page."""


def parse_saml_xml(name: str, data: bytes, max_bytes: int) -> Any:
    """The root element of the XML ``data`` of message field ``name``, parsed safely."""
    if len(data) > max_bytes:
        raise DecodeError(f"The {name} is larger than {max_bytes // 1024} kB; it is not shown.")
    if _DECLARATION.search(data.replace(b"\x00", b"")):  # without NULs, UTF-16 and UTF-32 text reads as ASCII
        raise DecodeError(
            f"The {name} declares a DOCTYPE or entities; such XML is refused and not parsed "
            "(SAML messages never need them, attacks do)."
        )
    try:
        root = etree.fromstring(data, etree.XMLParser(**_SAFE_PARSER))
    except etree.XMLSyntaxError as error:
        raise DecodeError(f"The {name} is not well-formed XML ({error.msg}).") from None
    except ValueError:
        raise DecodeError(f"The {name} is not XML.") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise DecodeError(f"The {name} declares a DOCTYPE; such XML is refused.")
    return root


def _local(element: Any) -> str:
    return etree.QName(element).localname


def _text(element: Any) -> str | None:
    """An element's own text as a parser that drops comments reads it (``None`` without the element)."""
    if element is None:
        return None
    return "".join(element.xpath("text()")).strip()


def _attribute(element: Any, name: str) -> str | None:
    return None if element is None else element.get(name)


def summarize_saml(root: Any, notes: list[str]) -> dict[str, Any]:
    """What an integrator checks in a SAML message; oddities are appended to ``notes``."""
    if etree.QName(root).namespace != NS["samlp"]:
        notes.append(f"The XML's root element is {root.tag}, not a SAML 2.0 protocol message.")
    status_codes = [code.get("Value") or "" for code in root.iterfind("samlp:Status//samlp:StatusCode", NS)]
    summary = {
        "message_type": _local(root),
        "id": root.get("ID"),
        "in_response_to": root.get("InResponseTo"),
        "issue_instant": root.get("IssueInstant"),
        "destination": root.get("Destination"),
        "issuer": _text(root.find("saml:Issuer", NS)),
        "status_codes": status_codes,
        "status_message": _text(root.find("samlp:Status/samlp:StatusMessage", NS)),
        "details": _request_details(root),
        "assertions": [_assertion(element, notes) for element in root.iter(f"{{{NS['saml']}}}Assertion")],
        "encrypted_assertions": [
            _encrypted(element) for element in root.iter(f"{{{NS['saml']}}}EncryptedAssertion")
        ],
        "signatures": [_signature(element, root) for element in root.iter(f"{{{NS['ds']}}}Signature")],
    }
    if any(signature["value"] == "redacted in the journal" for signature in summary["signatures"]):
        notes.append("Signature values are redacted in the journal; the signatures are not checked here.")
    return summary


def _request_details(root: Any) -> dict[str, str]:
    """What a request asks for: the ACS URL and NameID policy of an AuthnRequest, whom a LogoutRequest
    signs out."""
    details: dict[str, str] = {}
    kind = _local(root)
    if kind == "AuthnRequest":
        for name in ("AssertionConsumerServiceURL", "AssertionConsumerServiceIndex", "ProtocolBinding"):
            if root.get(name):
                details[name] = root.get(name)
        for name in ("ForceAuthn", "IsPassive"):
            if root.get(name):
                details[name] = root.get(name)
        policy = root.find("samlp:NameIDPolicy", NS)
        if policy is not None and policy.get("Format"):
            details["NameIDPolicy Format"] = policy.get("Format")
        requested = root.findall("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", NS)
        if requested:
            details["RequestedAuthnContext"] = ", ".join(_text(ref) or "" for ref in requested)
    elif kind == "LogoutRequest":
        name_id = root.find("saml:NameID", NS)
        if name_id is not None:
            details["NameID"] = _text(name_id) or ""
            if name_id.get("Format"):
                details["NameID Format"] = name_id.get("Format")
        indexes = root.findall("samlp:SessionIndex", NS)
        if indexes:
            details["SessionIndex"] = ", ".join(_text(index) or "" for index in indexes)
        for name in ("Reason", "NotOnOrAfter"):
            if root.get(name):
                details[name] = root.get(name)
    return details


def _assertion(assertion: Any, notes: list[str]) -> dict[str, Any]:
    subject = assertion.find("saml:Subject", NS)
    name_id = None if subject is None else subject.find("saml:NameID", NS)
    if name_id is not None and any(isinstance(node, etree._Comment) for node in name_id.iter()):
        notes.append("The NameID holds an XML comment (a known comment-injection trick).")
    conditions = assertion.find("saml:Conditions", NS)
    return {
        "id": assertion.get("ID"),
        "issue_instant": assertion.get("IssueInstant"),
        "issuer": _text(assertion.find("saml:Issuer", NS)),
        "name_id": _text(name_id),
        "name_id_format": _attribute(name_id, "Format"),
        "name_id_encrypted": subject is not None and subject.find("saml:EncryptedID", NS) is not None,
        "subject_confirmations": [
            {
                "method": confirmation.get("Method"),
                **_attributes(
                    confirmation.find("saml:SubjectConfirmationData", NS),
                    recipient="Recipient",
                    not_before="NotBefore",
                    not_on_or_after="NotOnOrAfter",
                    in_response_to="InResponseTo",
                ),
            }
            for confirmation in ([] if subject is None else subject.iterfind("saml:SubjectConfirmation", NS))
        ],
        "conditions": None
        if conditions is None
        else {
            **_attributes(conditions, not_before="NotBefore", not_on_or_after="NotOnOrAfter"),
            "audiences": [
                _text(audience) or ""
                for audience in conditions.iterfind("saml:AudienceRestriction/saml:Audience", NS)
            ],
        },
        "authn_statements": [
            {
                **_attributes(
                    statement,
                    authn_instant="AuthnInstant",
                    session_index="SessionIndex",
                    session_not_on_or_after="SessionNotOnOrAfter",
                ),
                "authn_context_class_ref": _text(
                    statement.find("saml:AuthnContext/saml:AuthnContextClassRef", NS)
                ),
            }
            for statement in assertion.iterfind("saml:AuthnStatement", NS)
        ],
        "attributes": [
            {
                "name": attribute.get("Name") or "",
                "friendly_name": attribute.get("FriendlyName"),
                "name_format": attribute.get("NameFormat"),
                "values": [
                    "".join(value.itertext()).strip()
                    for value in attribute.iterfind("saml:AttributeValue", NS)
                ],
            }
            for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)
        ],
    }


def _attributes(element: Any, **names: str) -> dict[str, str | None]:
    """``{key: element.get(attribute)}`` for each ``key=attribute`` (all ``None`` without the element)."""
    return {key: _attribute(element, attribute) for key, attribute in names.items()}


def _encrypted(element: Any) -> dict[str, str | None]:
    data_method = element.find("xenc:EncryptedData/xenc:EncryptionMethod", NS)
    key_method = element.find(".//xenc:EncryptedKey/xenc:EncryptionMethod", NS)
    return {
        "data_algorithm": _attribute(data_method, "Algorithm"),
        "key_algorithm": _attribute(key_method, "Algorithm"),
    }


def _signature(signature: Any, root: Any) -> dict[str, Any]:
    """What one ``ds:Signature`` covers, how, and with which embedded certificate."""
    parent = signature.getparent()
    parent_id = _attribute(parent, "ID")
    signed_info = signature.find("ds:SignedInfo", NS)
    references = [] if signed_info is None else signed_info.findall("ds:Reference", NS)
    reference = references[0] if references else None
    uri = _attribute(reference, "URI")
    if uri == "" and parent is root:
        matches = True
    else:
        matches = uri is not None and parent_id is not None and uri == f"#{parent_id}"
    target = None
    if uri and uri.startswith("#") and not matches:
        found = root.xpath("//*[@ID=$id]", id=uri[1:])
        target = f"{_local(found[0])} {uri[1:]}" if found else "no element of this message"
    value = _text(signature.find("ds:SignatureValue", NS))
    certificate = signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    return {
        "signs": None if parent is None else _local(parent),
        "parent_id": parent_id,
        "reference_uri": uri,
        "reference_matches": matches,
        "reference_target": target,
        "references": len(references),
        "signature_method": _attribute(_find(signed_info, "ds:SignatureMethod"), "Algorithm"),
        "canonicalization_method": _attribute(_find(signed_info, "ds:CanonicalizationMethod"), "Algorithm"),
        "digest_method": _attribute(_find(reference, "ds:DigestMethod"), "Algorithm"),
        "transforms": [
            transform.get("Algorithm") or ""
            for transform in (
                [] if reference is None else reference.iterfind("ds:Transforms/ds:Transform", NS)
            )
        ],
        "value": "missing" if not value else "redacted in the journal" if value == REDACTED else "present",
        "certificate": None if certificate is None else describe_certificate(_text(certificate) or ""),
    }


def _find(element: Any, path: str) -> Any:
    return None if element is None else element.find(path, NS)


def describe_certificate(text: str) -> dict[str, str | None]:
    """Subject, issuer, validity end and SHA-256 fingerprint of a base64 DER certificate, or an ``error``."""
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
        return {
            "subject": certificate.subject.rfc4514_string(),
            "issuer": certificate.issuer.rfc4514_string(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
            "error": None,
        }
    except (binascii.Error, ValueError):
        return {
            "subject": None,
            "issuer": None,
            "not_after": None,
            "sha256_fingerprint": None,
            "error": "The embedded X509Certificate could not be parsed.",
        }
