"""Checks of the AuthnRequests the SP's logins sent the IdP during the run (topped up with a few more
logins when the run saw fewer than a check needs). They judge documents, so they run even when the
honest baseline fails."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus, urlsplit

import xmlsec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.harness.checks import MUST, SHOULD, NotJudged, Sent, Verdict
from conformance.harness.xmldiff import readable
from conformance.saml_sp.browser import AuthnRequestSeen, authn_requests
from conformance.saml_sp.messages import NS, REDIRECT_BINDING
from conformance.saml_sp.metadata import Certificate
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

REQUESTS_FOR_UNIQUENESS = 3
REDIRECT_SIGNATURE_HASHES = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}


def _requests(world: World, minimum: int = 1) -> list[AuthnRequestSeen]:
    seen = authn_requests(world, minimum)
    if not seen:
        raise NotJudged("The SP's login URL never sent the browser to the IdP with an AuthnRequest.")
    return seen


def _request_sent(requests: list[AuthnRequestSeen], description: str) -> Sent:
    return Sent(description, readable(requests[-1].xml))


def _raw_query_values(url: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in urlsplit(url).query.split("&"):
        name, _, value = part.partition("=")
        values.setdefault(unquote_plus(name), value)
    return values


def _redirect_signature_verifies(request: AuthnRequestSeen, certificates: list[Certificate]) -> bool:
    """SAML bindings 2.0 §3.4.4.1: the signature covers ``SAMLRequest=…&RelayState=…&SigAlg=…`` exactly
    as the octets appear, URL-encoded, in the query string."""
    raw = _raw_query_values(request.url)
    algorithm = REDIRECT_SIGNATURE_HASHES.get(unquote_plus(raw.get("SigAlg", "")))
    if algorithm is None or "Signature" not in raw:
        return False
    signed = "&".join(
        f"{name}={raw[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg") if name in raw
    )
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]))
    except (ValueError, binascii.Error):
        return False
    for certificate in certificates:
        parsed = certificate.parsed()
        key = parsed.public_key() if parsed is not None else None
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            continue
        return True
    return False


def _post_signature_verifies(request: AuthnRequestSeen, certificates: list[Certificate]) -> bool:
    """SAML core 2.0 §5.4: an enveloped signature of the AuthnRequest element itself."""
    root = request.root
    signature = root.find("ds:Signature", NS)
    if signature is None:
        return False
    references = signature.findall("ds:SignedInfo/ds:Reference", NS)
    if len(references) != 1 or references[0].get("URI") != f"#{root.get('ID')}":
        return False
    for certificate in certificates:
        xmlsec.tree.add_ids(root, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(certificate.pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
        try:
            context.verify(signature)
        except xmlsec.Error:
            continue
        return True
    return False


@SUITE.check(
    "SAML-SP-REQ-1",
    MUST,
    "requests",
    'AuthnRequests are signed, as the metadata\'s AuthnRequestsSigned="true" promises',
    "SAML metadata 2.0 §2.4.4; bindings 2.0 §3.4.4.1 and §3.5.4",
    "Sign every AuthnRequest with the key whose certificate the metadata publishes for signing.",
    applies=lambda world: (
        None if world.sp.authn_requests_signed else "the metadata does not promise signed requests"
    ),
    needs_baseline=False,
)
def requests_signed(world: World) -> Verdict:
    requests = _requests(world)
    sent = _request_sent(
        requests, "The AuthnRequests the SP's logins sent, checked against its signing certificates."
    )
    certificates = world.sp.signing_certificates
    bad = [
        request
        for request in requests
        if not (
            _redirect_signature_verifies(request, certificates)
            if request.binding == REDIRECT_BINDING
            else _post_signature_verifies(request, certificates)
        )
    ]
    observed = {"requests": len(requests), "unsigned_or_bad": len(bad)}
    if bad:
        return Verdict(
            False,
            f"{len(bad)} of {len(requests)} AuthnRequests are unsigned or do not verify.",
            sent,
            observed,
        )
    return Verdict(
        True,
        f"All {len(requests)} AuthnRequests verify with the metadata's signing certificate.",
        sent,
        observed,
    )


@SUITE.check(
    "SAML-SP-REQ-2",
    MUST,
    "requests",
    "The AuthnRequest's AssertionConsumerServiceURL is one the metadata lists",
    "SAML core 2.0 §3.4.1; profiles 2.0 §4.1.4.1",
    "Ask for an ACS your metadata publishes (or name none and let the IdP use the default one).",
    needs_baseline=False,
)
def request_acs(world: World) -> Verdict:
    requests = _requests(world)
    sent = _request_sent(requests, "The AssertionConsumerServiceURL of each AuthnRequest.")
    listed = {endpoint.location for endpoint in world.sp.acs}
    asked = {request.root.get("AssertionConsumerServiceURL") for request in requests} - {None}
    unknown = sorted(url for url in asked if url not in listed)
    if unknown:
        return Verdict(False, f"Asks for an ACS the metadata does not list: {', '.join(unknown)}.", sent)
    return Verdict(True, "Every requested ACS is in the metadata (or none is named).", sent)


@SUITE.check(
    "SAML-SP-REQ-3",
    MUST,
    "requests",
    "Every login's AuthnRequest has a new ID",
    "SAML core 2.0 §1.3.4 (ID uniqueness) and §3.2.1",
    "Make each request ID from at least 128 random bits, never from a counter or the session.",
    needs_baseline=False,
)
def request_ids_unique(world: World) -> Verdict:
    requests = _requests(world, REQUESTS_FOR_UNIQUENESS)
    ids = [request.root.get("ID") for request in requests]
    sent = _request_sent(requests, f"The IDs of {len(ids)} AuthnRequests from separate logins.")
    repeated = sorted({value for value in ids if ids.count(value) > 1 or not value}, key=str)
    if repeated:
        return Verdict(False, f"Request IDs repeat or are missing: {repeated}.", sent, {"ids": ids})
    return Verdict(True, f"{len(ids)} AuthnRequests, {len(ids)} different IDs.", sent, {"requests": len(ids)})


@SUITE.check(
    "SAML-SP-REQ-4",
    MUST,
    "requests",
    "The AuthnRequest's Issuer is the SP's entityID",
    "SAML profiles 2.0 §4.1.4.1",
    "Put your metadata's entityID in saml:Issuer (the IdP looks the SP up by it).",
    needs_baseline=False,
)
def request_issuer(world: World) -> Verdict:
    requests = _requests(world)
    sent = _request_sent(requests, "The saml:Issuer of each AuthnRequest.")
    issuers = {
        (request.root.findtext("saml:Issuer", default="", namespaces=NS) or "").strip()
        for request in requests
    }
    if issuers == {world.sp.entity_id}:
        return Verdict(True, f"Issuer is {world.sp.entity_id}.", sent)
    return Verdict(False, f"Issuer is {sorted(issuers)}, not the entityID {world.sp.entity_id}.", sent)


@SUITE.check(
    "SAML-SP-REQ-5",
    SHOULD,
    "requests",
    "The AuthnRequest's Destination is the IdP's SSO URL (required when it is signed)",
    "SAML bindings 2.0 §3.4.5.2 and §3.5.5.2",
    "Set Destination to the SingleSignOnService Location of the IdP metadata.",
    needs_baseline=False,
)
def request_destination(world: World) -> Verdict:
    requests = _requests(world)
    sent = _request_sent(requests, "The Destination of each AuthnRequest.")
    wrong = []
    for request in requests:
        destination = request.root.get("Destination")
        signed = request.signature is not None or request.root.find("ds:Signature", NS) is not None
        if destination is None and signed:
            wrong.append("a signed request without Destination")
        elif destination is not None and destination != world.idp_sso_url:
            wrong.append(f"Destination {destination}")
    if wrong:
        return Verdict(False, f"{'; '.join(sorted(set(wrong)))} (expected {world.idp_sso_url}).", sent)
    return Verdict(True, "Destination names the IdP's SSO URL.", sent)
