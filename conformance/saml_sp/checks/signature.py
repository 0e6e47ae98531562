"""Signature checks: stripped, foreign, altered and wrapped signatures must never sign anyone in.

The forgeries claim the victim's identity; the wrapped ones (XSW1–XSW8, as SAMLRaider names them) keep
the IdP's genuine signature somewhere the SP still finds it.
"""

from __future__ import annotations

from functools import partial

from conformance.harness.checks import MUST, SHOULD, Verdict
from conformance.saml_sp import wrapping
from conformance.saml_sp.browser import start_sign_on
from conformance.saml_sp.judge import refused
from conformance.saml_sp.messages import (
    EMAIL_FORMAT,
    SAML,
    assertion_of,
    inject_comment,
    parse,
    serialise,
    sign,
    strip_signatures,
    swap_identity,
)
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

VERIFY_HINT = (
    "Verify every response with the IdP metadata's certificate only (never the KeyInfo in the message) and "
    "refuse a response in which neither the Response nor the Assertion carries a valid signature."
)
WRAPPING_HINT = (
    "Use the very element the signature verified: check that the Reference URI names the assertion you "
    "read, that IDs are unique, and that the response holds exactly one assertion (python3-saml, OpenSAML "
    "and Shibboleth do); never look the assertion up again by position or XPath."
)


def _to_victim(world: World, element: object) -> None:
    swap_identity(element, world.member.identity, world.victim.identity)  # type: ignore[arg-type]


@SUITE.check(
    "SAML-SP-SIG-1",
    MUST,
    "signature",
    "A response whose only signature (on the Response) was stripped is refused",
    "SAML profiles 2.0 §4.1.3.5 and §4.1.4.3",
    VERIFY_HINT,
)
def stripped_response_signature(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="response"))
    strip_signatures(root)
    return refused(
        world, sign_on, serialise(root), "A response signed on the Response only, signature removed."
    )


@SUITE.check(
    "SAML-SP-SIG-2",
    MUST,
    "signature",
    "A response whose only signature (on the Assertion) was stripped is refused",
    "SAML profiles 2.0 §4.1.3.5 and §4.1.4.3",
    VERIFY_HINT,
)
def stripped_assertion_signature(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    strip_signatures(assertion_of(root))
    return refused(
        world, sign_on, serialise(root), "A response signed on the Assertion only, signature removed."
    )


@SUITE.check(
    "SAML-SP-SIG-3",
    MUST,
    "signature",
    "The genuine response with both signatures stripped is refused",
    "SAML profiles 2.0 §4.1.3.5 and §4.1.4.3",
    VERIFY_HINT,
)
def stripped_both_signatures(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = sign_on.root
    strip_signatures(root, assertion_of(root))
    return refused(
        world, sign_on, serialise(root), "The IdP's genuine response with both signatures removed."
    )


@SUITE.check(
    "SAML-SP-SIG-4",
    MUST,
    "signature",
    "A response signed by an untrusted key (its certificate in KeyInfo) is refused",
    "SAML profiles 2.0 §4.1.4.3; XML Signature 1.1 §4.5 (KeyInfo is a hint, not trust)",
    "Verify with the certificates of the IdP metadata, never with a certificate the message brings along.",
)
def untrusted_key(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = sign_on.root
    assertion = assertion_of(root)
    strip_signatures(root, assertion)
    _to_victim(world, assertion)
    key_pem, certificate_pem = world.attacker
    sign(root, assertion, key_pem, certificate_pem)
    sign(root, root, key_pem, certificate_pem)
    description = "The genuine response, claiming the victim, re-signed (both) by the attacker's own key."
    return refused(world, sign_on, serialise(root), description)


@SUITE.check(
    "SAML-SP-SIG-5",
    MUST,
    "signature",
    "An assertion whose NameID was changed after signing is refused",
    "XML Signature 1.1 §3.2 (reference validation); SAML core 2.0 §5.4",
    VERIFY_HINT,
)
def altered_name_id(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    swap_identity(assertion_of(root), world.member.identity, world.victim.identity, (f"{{{SAML}}}NameID",))
    return refused(world, sign_on, serialise(root), "A signed assertion whose NameID now names the victim.")


@SUITE.check(
    "SAML-SP-SIG-6",
    MUST,
    "signature",
    "An assertion whose attributes were changed after signing is refused",
    "XML Signature 1.1 §3.2 (reference validation); SAML core 2.0 §5.4",
    VERIFY_HINT,
)
def altered_attributes(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    swap_identity(
        assertion_of(root), world.member.identity, world.victim.identity, (f"{{{SAML}}}AttributeValue",)
    )
    description = "A signed assertion whose attribute values now name the victim."
    return refused(world, sign_on, serialise(root), description)


@SUITE.check(
    "SAML-SP-SIG-7",
    MUST,
    "signature",
    "A signed Response whose unsigned Assertion was altered is refused",
    "XML Signature 1.1 §3.2; SAML core 2.0 §5.4 (the Response signature covers the assertion)",
    VERIFY_HINT,
)
def altered_under_response_signature(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="response"))
    _to_victim(world, assertion_of(root))
    description = "A response signed on the Response only, its assertion changed to name the victim."
    return refused(world, sign_on, serialise(root), description)


def _wrapped(world: World, number: int) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    level = "response" if number in wrapping.RESPONSE_LEVEL else "assertion"
    root = parse(world.mint(sign_on, sign=level))
    wrapping.WRAPPINGS[number](root, partial(_to_victim, world))
    description = f"XSW{number}: {wrapping.WRAPPINGS[number].__doc__.split(':', 1)[1].strip()}"
    return refused(world, sign_on, serialise(root), description)


for _number in wrapping.WRAPPINGS:
    _wrapped_element = "signed Response" if _number in wrapping.RESPONSE_LEVEL else "signed Assertion"
    SUITE.check(
        f"SAML-SP-XSW-{_number}",
        MUST,
        "wrapping",
        f"XML signature wrapping XSW{_number} ({_wrapped_element}) is refused",
        "Somorovsky et al., On Breaking SAML (USENIX Security 2012); SAML core 2.0 §5.4.2",
        WRAPPING_HINT,
    )(partial(_wrapped, number=_number))


@SUITE.check(
    "SAML-SP-SIG-11",
    MUST,
    "signature",
    "Two elements with the same ID (an unsigned evil assertion first) are refused",
    "SAML core 2.0 §1.3.4 (IDs are unique); XML Signature 1.1 §4.4.3.3",
    WRAPPING_HINT,
)
def duplicate_ids(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    wrapping.duplicate_id(root, partial(_to_victim, world))
    description = "An unsigned assertion for the victim with the same ID, placed before the signed one."
    return refused(world, sign_on, serialise(root), description)


@SUITE.check(
    "SAML-SP-SIG-12",
    MUST,
    "signature",
    "A signature whose Reference points at another element than the assertion read is refused",
    "SAML core 2.0 §5.4.2 (the Reference URI names the signed assertion's ID)",
    WRAPPING_HINT,
)
def reference_elsewhere(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    wrapping.reference_elsewhere(root, partial(_to_victim, world))
    description = (
        "The victim's assertion carries the genuine signature, which references the original, moved into "
        "samlp:Extensions."
    )
    return refused(world, sign_on, serialise(root), description)


@SUITE.check(
    "SAML-SP-SIG-8",
    SHOULD,
    "signature",
    "A response signed with RSA-SHA1 is refused",
    "XML Signature 1.1 §6.4.2 (SHA-1 signatures are deprecated); NIST SP 800-131A",
    "Accept RSA-SHA256 or stronger only (python3-saml: rejectDeprecatedAlgorithm).",
)
def sha1_signature(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, sign="both", signature_algorithm="rsa-sha1")
    return refused(
        world, sign_on, xml, "The IdP's response, signed with RSA-SHA1 (SHA-256 digests).", ("member",)
    )


@SUITE.check(
    "SAML-SP-SIG-9",
    SHOULD,
    "signature",
    "A response whose signature uses SHA-1 digests is refused",
    "XML Signature 1.1 §6.2.1 (SHA-1 digests are deprecated)",
    "Accept SHA-256 digests or stronger only (python3-saml: rejectDeprecatedAlgorithm).",
)
def sha1_digest(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, sign="both", digest_algorithm="sha1")
    return refused(
        world, sign_on, xml, "The IdP's response, signed with RSA-SHA256 over SHA-1 digests.", ("member",)
    )


@SUITE.check(
    "SAML-SP-SIG-10",
    MUST,
    "signature",
    "A comment inside the NameID never shortens the identity (refused, or read whole)",
    "CVE-2017-11427 and siblings; XML Signature 1.1 §4.4.3.3 (exclusive C14N drops comments)",
    "Read a NameID or attribute value as its whole text content (or refuse comments in it); never only the "
    "text before the first child node. Judged by who the probe shows: the victim, or the victim's email "
    "as a whole value, is a fail.",
)
def comment_injection(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    email = world.member.email
    root = parse(world.mint(sign_on, name_id={"value": email, "format": EMAIL_FORMAT}))
    inject_comment(root, email, len(world.victim.email))
    cut = len(world.victim.email)
    description = (
        f"The member's own signed response, NameID and email written {email[:cut]}<!---->{email[cut:]} "
        "(the signature still verifies)."
    )
    return refused(
        world,
        sign_on,
        serialise(root),
        description,
        forbidden=("victim",),
        identity_leaks=[world.victim.email],
    )
