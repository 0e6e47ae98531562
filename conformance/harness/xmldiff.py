"""What a check changed in a message: the sent XML for the report, and the lines that differ from the
genuine message the IdP sent for the same sign-on.

Two responses made a second apart differ in their IDs, digests, signature values and instants even when
nothing was tampered with, so lines are compared after normalising those: IDs (and the references to
them) become their order of appearance, digest and signature values are elided, and each instant becomes
its distance in minutes from when the message was made. What is left highlighted is what the check did.
A message that does not parse (a DTD, 5,000 levels deep) is shown as it was sent, uncompared.

Example::

    sent = message_change(genuine_xml, hostile_xml, genuine_at, sent_at, "XSW3: an evil assertion first")
    sent.changed_lines  # e.g. [14, 15, 16]
"""

from __future__ import annotations

import datetime as dt
import difflib
import re

from lxml import etree

from conformance.harness.checks import Sent

MAX_MESSAGE_CHARS = 64 * 1024
MAX_DIFF_CHARS = 16 * 1024
BASE64_ELEMENTS = frozenset({"DigestValue", "SignatureValue", "CipherValue", "X509Certificate"})
_ID_ATTRIBUTE = re.compile(r'\b(ID|InResponseTo|SessionIndex|URI)="#?([^"]*)"')
_ELIDED_TEXT = re.compile(r"<((?:\w+:)?(?:DigestValue|SignatureValue|CipherValue))>[^<]*<")
_INSTANT = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')


def readable(xml: bytes) -> str:
    """The message as text for people: pretty-printed when it parses safely, else as it came (capped).

    Base64 values (digests, signature values, certificates) are put on one line each.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
    )
    try:
        root = etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError):
        return _capped(xml.decode("utf-8", errors="replace"), MAX_MESSAGE_CHARS)
    for element in root.iter(etree.Element):
        if etree.QName(element).localname in BASE64_ELEMENTS and element.text:
            element.text = "".join(element.text.split())
    return _capped(etree.tostring(root, pretty_print=True, encoding="unicode"), MAX_MESSAGE_CHARS)


def _parses(xml: bytes) -> bool:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError):
        return False
    return not root.getroottree().docinfo.doctype


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)\n"


def _normalised(lines: list[str], made_at: dt.datetime) -> list[str]:
    ids: dict[str, str] = {}

    def id_of(match: re.Match[str]) -> str:
        value = ids.setdefault(match.group(2), f"id{len(ids) + 1}")
        return f'{match.group(1)}="{value}"'

    def minutes(match: re.Match[str]) -> str:
        instant = dt.datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        return f'"now{round((instant - made_at).total_seconds() / 60):+d}min"'

    return [
        _ELIDED_TEXT.sub(
            lambda match: f"<{match.group(1)}>…<", _INSTANT.sub(minutes, _ID_ATTRIBUTE.sub(id_of, line))
        )
        for line in lines
    ]


def message_change(
    genuine: bytes | None, sent: bytes, genuine_at: dt.datetime, sent_at: dt.datetime, description: str
) -> Sent:
    """The :class:`Sent` record of ``sent``: readable text, the lines changed against ``genuine``, a diff."""
    text = readable(sent)
    if genuine is None or not _parses(sent):
        return Sent(description, text)
    before = readable(genuine).splitlines()
    after = text.splitlines()
    matcher = difflib.SequenceMatcher(
        None, _normalised(before, genuine_at), _normalised(after, sent_at), autojunk=False
    )
    changed: list[int] = []
    hunks: list[str] = []
    for tag, old_first, old_last, first, last in matcher.get_opcodes():
        if tag == "equal":
            continue
        changed.extend(range(first + 1, last + 1))
        hunks.append(f"@@ genuine line {old_first + 1}, sent line {first + 1} @@")
        hunks.extend(f"- {line}" for line in before[old_first:old_last])
        hunks.extend(f"+ {line}" for line in after[first:last])
    diff = _capped("\n".join(hunks), MAX_DIFF_CHARS) if hunks else None
    return Sent(description, text, changed, diff)
