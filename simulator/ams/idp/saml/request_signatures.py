"""Checking the signature of an SP's AuthnRequest (SAML bindings 2.0 §3.4.4.1 and core 2.0 §5).

An SP whose metadata says ``AuthnRequestsSigned="true"`` MUST sign its AuthnRequests; the IdP then
verifies them against the ``signing`` certificates of that metadata, with RSA-SHA256 only:

- HTTP-Redirect: ``SigAlg`` and ``Signature`` query parameters over the exact octets
  ``SAMLRequest=…[&RelayState=…]&SigAlg=…`` as they appear, still URL-encoded, in the query string;
- HTTP-POST: an enveloped ``ds:Signature`` of the AuthnRequest element itself (``Reference URI`` =
  ``#`` + its ``ID``), RSA-SHA256 with SHA-256 digests.

Example::

    verify_redirect_signature(request.query_string, sp_signing_certificates)
    verify_post_signature(authn_request_xml, sp_signing_certificates)
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from simulator.ams.idp.saml.xmlsec_backend import DSIG_NS, safe_parse
from simulator.core.errors import SandboxError

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_REDIRECT_PARAMETERS = ("SAMLRequest", "RelayState", "SigAlg")


class UnsignedRequestRefused(SandboxError):
    """An AuthnRequest that had to be signed is unsigned or badly signed (an error page, no redirect)."""

    code = "saml_request_signature_invalid"
    http_status = 403


def _raw_parameters(query_string: bytes) -> dict[str, str]:
    """The query's parameters with their values exactly as sent (still URL-encoded); first one wins."""
    found: dict[str, str] = {}
    for part in query_string.decode("ascii", errors="replace").split("&"):
        name, _, value = part.partition("=")
        found.setdefault(unquote_plus(name), value)
    return found


def _public_keys(certificates: list[str]) -> list[rsa.RSAPublicKey]:
    keys = []
    for certificate in certificates:
        try:
            key = x509.load_der_x509_certificate(base64.b64decode(certificate)).public_key()
        except (ValueError, binascii.Error):
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys.append(key)
    return keys


def verify_redirect_signature(query_string: bytes, certificates: list[str]) -> None:
    """SAML bindings 2.0 §3.4.4.1: the signature over ``SAMLRequest[&RelayState]&SigAlg`` as sent."""
    raw = _raw_parameters(query_string)
    if "Signature" not in raw or "SigAlg" not in raw:
        raise UnsignedRequestRefused(
            "This service provider must sign its AuthnRequests; this one is unsigned."
        )
    if unquote_plus(raw["SigAlg"]) != RSA_SHA256:
        raise UnsignedRequestRefused("AuthnRequests must be signed with RSA-SHA256.")
    signed = "&".join(f"{name}={raw[name]}" for name in SIGNED_REDIRECT_PARAMETERS if name in raw)
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnsignedRequestRefused("The AuthnRequest's Signature is not base64.") from exc
    for key in _public_keys(certificates):
        try:
            key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return
    raise UnsignedRequestRefused(
        "The AuthnRequest's signature does not verify with the service provider's signing certificate."
    )


def verify_post_signature(xml: bytes, certificates: list[str]) -> None:
    """SAML core 2.0 §5.4: an enveloped RSA-SHA256 signature of the AuthnRequest element itself."""
    try:
        root = safe_parse(xml)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnsignedRequestRefused("The AuthnRequest is not acceptable XML.") from exc
    signature = root.find(f"{{{DSIG_NS}}}Signature")
    if signature is None:
        raise UnsignedRequestRefused(
            "This service provider must sign its AuthnRequests; this one is unsigned."
        )
    method = signature.find(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}SignatureMethod")
    references = signature.findall(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference")
    digests = [reference.find(f"{{{DSIG_NS}}}DigestMethod") for reference in references]
    if method is None or method.get("Algorithm") != RSA_SHA256:
        raise UnsignedRequestRefused("AuthnRequests must be signed with RSA-SHA256.")
    if any(digest is None or digest.get("Algorithm") != SHA256 for digest in digests):
        raise UnsignedRequestRefused("AuthnRequest signatures must use SHA-256 digests.")
    if len(references) != 1 or not root.get("ID") or references[0].get("URI") != f"#{root.get('ID')}":
        raise UnsignedRequestRefused("The signature must cover the AuthnRequest element itself.")
    xmlsec.tree.add_ids(root, ["ID"])
    for certificate in certificates:
        context = xmlsec.SignatureContext()
        try:
            context.key = xmlsec.Key.from_memory(
                base64.b64decode(certificate), xmlsec.constants.KeyDataFormatCertDer
            )
            context.verify(signature)
        except (xmlsec.Error, binascii.Error, ValueError):
            continue
        return
    raise UnsignedRequestRefused(
        "The AuthnRequest's signature does not verify with the service provider's signing certificate."
    )
