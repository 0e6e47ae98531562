"""Hostile XML: entities, bombs, depth and size must not sign in, nor leak, nor bring the SP down.

Each message is the genuine response with the hostile part written into the member's given name, so a
parser that gives in would at least have to read on to the identity.
"""

from __future__ import annotations

import re

from conformance.harness.checks import MUST, NotJudged, Verdict
from conformance.saml_sp.browser import SignOn, start_sign_on
from conformance.saml_sp.judge import refused
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

PASSWD_MARKER = "root:x:0:0"  # noqa: S105 - the first line of /etc/passwd, not a password
DEPTH = 5000
LARGE_BYTES = 2 * 1024 * 1024
PARSER_HINT = (
    "Parse with DTDs, entities and network access off and a size and depth limit (lxml: "
    "resolve_entities=False, no_network=True, huge_tree=False; defusedxml), before anything else."
)
_ROOT_NAME = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?<([\w.:-]+)")


def _with(sign_on: SignOn, value: bytes, doctype: bytes = b"") -> bytes:
    """The genuine response with ``value`` in place of the member's given name (and ``doctype`` first)."""
    given = f">{sign_on.member.given_name}<".encode()
    if given not in sign_on.xml:
        raise NotJudged("the genuine response carries no given name attribute to put the hostile part in")
    xml = sign_on.xml.replace(given, b">" + value + b"<", 1)
    match = _ROOT_NAME.match(xml)
    if doctype and match:
        xml = b"<!DOCTYPE " + match.group(1) + b" [" + doctype + b"]>\n" + xml
    return xml


@SUITE.check(
    "SAML-SP-XML-1",
    MUST,
    "xml",
    "An external entity (XXE) is not resolved: the file's content never appears, nobody signs in",
    "OWASP XXE Prevention Cheat Sheet; SAML security considerations §6.2",
    PARSER_HINT,
)
def external_entity(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = _with(sign_on, b"&xxe;", b'<!ENTITY xxe SYSTEM "file:///etc/passwd">')
    description = (
        "The genuine response with a DOCTYPE whose entity reads file:///etc/passwd into the given name."
    )
    return refused(world, sign_on, xml, description, must_not_show=PASSWD_MARKER)


@SUITE.check(
    "SAML-SP-XML-2",
    MUST,
    "xml",
    "An entity-expansion bomb is refused in bounded time and the SP stays up",
    "CWE-776 (billion laughs); SAML security considerations §6.2",
    PARSER_HINT,
)
def entity_bomb(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10) for level in range(1, 10)
    )
    description = "The genuine response with a billion-laughs DOCTYPE (10^9 expansions) in the given name."
    return refused(world, sign_on, _with(sign_on, b"&lol9;", entities), description, full_health=True)


@SUITE.check(
    "SAML-SP-XML-3",
    MUST,
    "xml",
    f"A message nested {DEPTH:,} elements deep is refused in bounded time and the SP stays up",
    "CWE-674 (uncontrolled recursion); SAML security considerations §6.2",
    PARSER_HINT,
)
def deep_nesting(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = _with(sign_on, b"<x>" * DEPTH + b"</x>" * DEPTH)
    description = f"The genuine response with {DEPTH:,} nested elements in the given name."
    return refused(world, sign_on, xml, description, full_health=True)


@SUITE.check(
    "SAML-SP-XML-4",
    MUST,
    "xml",
    "A 2 MB message is refused in bounded time and the SP stays up",
    "CWE-400 (uncontrolled resource consumption); SAML bindings 2.0 §3.5",
    "Cap the size of SAMLResponse (a real response is a few kilobytes) before decoding it.",
)
def large_message(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = _with(sign_on, b"A" * LARGE_BYTES)
    description = "The genuine response with 2 MB of text in the given name (signature broken as well)."
    return refused(world, sign_on, xml, description, full_health=True)
