"""Checks of the SP's metadata document. They judge a document, not sign-ins, so they run even when the
honest baseline fails."""

from __future__ import annotations

import datetime as dt
import ipaddress
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import onelogin.saml2
from lxml import etree

from conformance.harness.checks import MUST, SHOULD, Sent, Verdict
from conformance.harness.xmldiff import readable
from conformance.saml_sp.messages import parse
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

METADATA_SCHEMA = Path(onelogin.saml2.__file__).parent / "schemas" / "saml-schema-metadata-2.0.xsd"


@cache
def _metadata_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(METADATA_SCHEMA)))


def _metadata_sent(world: World, description: str) -> Sent:
    return Sent(description, readable(world.sp.xml))


@SUITE.check(
    "SAML-SP-META-1",
    MUST,
    "metadata",
    "The metadata is well-formed and valid against the SAML 2.0 metadata schema",
    "SAML metadata 2.0 §2 (saml-schema-metadata-2.0.xsd)",
    "Generate the metadata with your SAML library, or fix the elements the schema error names.",
    needs_baseline=False,
)
def metadata_schema(world: World) -> Verdict:
    sent = _metadata_sent(world, "The SP's metadata document, validated against the SAML 2.0 metadata XSD.")
    schema = _metadata_schema()
    if schema.validate(parse(world.sp.xml)):
        return Verdict(True, "The metadata is valid against the SAML 2.0 metadata schema.", sent)
    error = schema.error_log[0]
    return Verdict(
        False, f"Schema error at line {error.line}: {error.message}", sent, {"schema_error": error.message}
    )


@SUITE.check(
    "SAML-SP-META-2",
    SHOULD,
    "metadata",
    "The metadata publishes a signing certificate",
    'SAML metadata 2.0 §2.4.1.1 (KeyDescriptor use="signing")',
    "Publish the certificate the SP signs AuthnRequests and LogoutRequests with in a KeyDescriptor.",
    needs_baseline=False,
)
def signing_certificate(world: World) -> Verdict:
    sent = _metadata_sent(world, "The SP's KeyDescriptor elements.")
    found = world.sp.signing_certificates
    if found:
        return Verdict(True, f"{len(found)} signing certificate(s) published.", sent)
    return Verdict(False, "No KeyDescriptor for signing (or without a use) carries a certificate.", sent)


@SUITE.check(
    "SAML-SP-META-3",
    MUST,
    "metadata",
    "Every certificate in the metadata is readable and valid today",
    "SAML metadata 2.0 §2.4.1.1; RFC 5280 §4.1.2.5",
    "Replace expired or not-yet-valid certificates, and publish the new one before you sign with it.",
    needs_baseline=False,
)
def certificates_valid(world: World) -> Verdict:
    sent = _metadata_sent(world, "The certificates of the SP's KeyDescriptor elements.")
    now = dt.datetime.now(dt.UTC)
    problems = [
        f"a {c.use or 'signing and encryption'} certificate {why}"
        for c in world.sp.certificates
        if (why := c.validity(now))
    ]
    if problems:
        return Verdict(False, "; ".join(problems).capitalize() + ".", sent)
    return Verdict(True, f"{len(world.sp.certificates)} certificate(s), all valid today.", sent)


@SUITE.check(
    "SAML-SP-META-4",
    MUST,
    "metadata",
    "An AssertionConsumerService uses the HTTP-POST binding",
    "SAML profiles 2.0 §4.1.2 and §4.1.4.5; bindings §3.5",
    'Offer the ACS with Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST".',
    needs_baseline=False,
)
def acs_post(world: World) -> Verdict:
    sent = _metadata_sent(world, "The SP's AssertionConsumerService elements.")
    if world.sp.post_acs:
        return Verdict(True, f"HTTP-POST ACS: {', '.join(e.location for e in world.sp.post_acs)}.", sent)
    bindings = ", ".join(sorted({e.binding for e in world.sp.acs})) or "none at all"
    return Verdict(False, f"No ACS uses the HTTP-POST binding (found: {bindings}).", sent)


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@SUITE.check(
    "SAML-SP-META-5",
    SHOULD,
    "metadata",
    "Every AssertionConsumerService is HTTPS (or on this machine's loopback)",
    "SAML bindings 2.0 §3.5.5.1; SAML security considerations §7.1.1.3",
    "Serve the ACS over TLS: a bearer assertion posted over plain HTTP can be read and replayed.",
    needs_baseline=False,
)
def acs_https(world: World) -> Verdict:
    sent = _metadata_sent(world, "The SP's AssertionConsumerService locations.")
    plain = [e.location for e in world.sp.acs if not _https_or_loopback(e.location)]
    if plain:
        return Verdict(False, f"Plain HTTP to another host: {', '.join(plain)}.", sent)
    return Verdict(True, "Every ACS is HTTPS or on the loopback.", sent)
