"""Reading XML that arrives from outside (SAML messages, metadata), with refusals a person can read.

A document that declares a DOCTYPE or entities is refused before it is parsed: SAML never needs them,
XXE and entity-expansion bombs do. The rest is parsed by lxml without entity resolution, DTD loading or
network access, and no deeper than :data:`MAX_XML_DEPTH` elements. An HTTP-Redirect message is inflated
to at most :data:`~simulator.core.request_limits.SAML_MESSAGE_BYTES` (:func:`inflate_redirect_message`),
so a DEFLATE bomb costs no more than that. Every refusal is an :class:`UnreadableXml` whose text is one
sentence naming the document and what is wrong with it — never the parser's own message, which goes to
the log.

Example::

    root = parse_untrusted(data, "The SAMLResponse")
    # UnreadableXml: The SAMLResponse is not well-formed XML (line 1, column 5).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from typing import Any

from lxml import etree

from simulator.core.request_limits import SAML_MESSAGE_BYTES, size_text

log = logging.getLogger(__name__)

SAFE_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": False,
}
MAX_XML_DEPTH = 256
"""How deep libxml2 nests elements without ``huge_tree`` (XML_PARSE_HUGE); a deeper document is refused."""
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class UnreadableXml(ValueError):
    """Input that is not read; its text is one plain sentence for the person who sent it."""


def parse_untrusted(data: bytes | str, what: str) -> etree._Element:
    """The root element of ``data``; ``what`` names the document in refusals ("The SAMLResponse")."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise UnreadableXml(f"{what} is empty.")
    if _DECLARATION.search(raw.replace(b"\x00", b"")):  # without NULs, UTF-16 and UTF-32 read as ASCII
        raise UnreadableXml(f"{what} declares a DTD or entities, which are not allowed.")
    try:
        root = etree.fromstring(raw, etree.XMLParser(**SAFE_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        log.info("%s is not well-formed XML: %s", what, exc)
        if exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "depth" in str(exc):
            raise UnreadableXml(f"{what} nests elements more than {MAX_XML_DEPTH} deep.") from exc
        line, column = exc.position
        where = f" (line {line}, column {column})" if line else ""
        raise UnreadableXml(f"{what} is not well-formed XML{where}.") from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise UnreadableXml(f"{what} declares a DTD or entities, which are not allowed.")
    return root


def inflate_redirect_message(value: str, field: str) -> bytes:
    """The XML of an HTTP-Redirect message (SAML bindings 2.0 §3.4.4.1: DEFLATE, then base64).

    Inflating stops one byte past :data:`SAML_MESSAGE_BYTES`: a DEFLATE bomb is refused without being
    inflated. Raises :class:`UnreadableXml` naming ``field`` (``SAMLRequest``) and what is wrong.
    """
    try:
        data = base64.b64decode(value)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableXml(f"The {field} is not valid base64.") from exc
    inflater = zlib.decompressobj(-15)
    try:
        inflated = inflater.decompress(data, SAML_MESSAGE_BYTES + 1)
    except zlib.error as exc:
        raise UnreadableXml(
            f"The {field} is not DEFLATE-compressed, as the HTTP-Redirect binding requires."
        ) from exc
    if len(inflated) > SAML_MESSAGE_BYTES:
        limit = size_text(SAML_MESSAGE_BYTES)
        raise UnreadableXml(f"The {field} inflates to more than {limit}, the most a SAML message may be.")
    return inflated


def saml_message_problem(value: str, field: str, deflated: bool, message: str) -> str:
    """Why the SAML message ``field`` (``SAMLRequest``) could not be read as a ``message``, in a sentence.

    For a refusal a SAML library gave without a reason a person can use: the value is decoded as the
    binding says (SAML bindings 2.0 §3.4.4.1 HTTP-Redirect: DEFLATE, then base64; §3.5.4 HTTP-POST:
    base64) and parsed, and the first step that fails is named.
    """
    try:
        data = inflate_redirect_message(value, field) if deflated else base64.b64decode(value)
        parse_untrusted(data, f"The {field}")
    except UnreadableXml as problem:
        return str(problem)
    except (binascii.Error, ValueError):
        return f"The {field} is not valid base64."
    return f"The {field} is not a readable SAML 2.0 {message}."
