"""Seven ways to get a SAML service provider wrong, each one override of :class:`MiniSp`.

Each subclass changes exactly one behaviour of the strict base, so a conformance suite run against it
must fail exactly the checks that behaviour explains, and pass every other one.

Example::

    sp = SignatureWrapping("http://127.0.0.1:8080", idp_metadata_xml)
"""

from __future__ import annotations

import datetime as dt

import xmlsec
from lxml import etree

from conformance.broken.minisp import MiniSp
from conformance.broken.saml import ASSERTION, SIGNATURE, PendingRequest, SignInRefused, TimeRule


class SkipSignature(MiniSp):
    """Checks no signature: signature checking never turned on, or a development setting shipped.

    Anyone who can post a form signs in as anyone: unsigned, forged and edited assertions all pass.
    """

    def check_signatures(self, response: etree._Element, assertion: etree._Element) -> None:
        """Rule 5 does nothing."""


class IgnoreAudience(MiniSp):
    """Never reads AudienceRestriction: an assertion the IdP issued for another SP signs in here too.

    With one IdP and many SPs, any SP (or whoever compromised one) can replay its users' assertions here.
    """

    def check_audience(self, assertion: etree._Element) -> None:
        """The audience part of rule 8 does nothing."""


class NoReplayCache(MiniSp):
    """No one-time use: a response taken from browser history, a log or a proxy signs in again.

    The pending request is checked but never used up, and assertion IDs are not remembered.
    """

    def use_up_request(self, pending: PendingRequest) -> None:
        """The request stays pending until it expires."""

    def remember_assertion(self, assertion_id: str, until: dt.datetime) -> None:
        """Rule 10 does nothing."""


class SignatureWrapping(MiniSp):
    """Verifies one assertion and reads another (XSW: Somorovsky et al., "On Breaking SAML", 2012).

    The first ds:Signature of the document is verified wherever it sits and whatever it references;
    the identity comes from the first Assertion in document order (pysaml2 before 5.0, CVE-2020-5390).
    """

    def locate_assertion(self, response: etree._Element) -> etree._Element:
        """The first Assertion in document order, wherever it is (replaces rule 4)."""
        assertion = next(response.iter(ASSERTION), None)
        if assertion is None:
            raise SignInRefused("The Response carries no Assertion.")
        return assertion

    def check_signatures(self, response: etree._Element, assertion: etree._Element) -> None:
        """The first ds:Signature in document order verifies with the IdP key (replaces rule 5; its
        algorithms are still checked)."""
        signature = next(response.iter(SIGNATURE), None)
        if signature is None:
            raise SignInRefused("The Response carries no signature.")
        self.check_algorithms(signature)
        xmlsec.tree.add_ids(response, ["ID"])
        self.verify_with_idp_keys(signature)


class TruncateNameId(MiniSp):
    """Reads ``element.text``: a comment cuts the value (Duo Labs 2018, CVE-2017-11427 python-saml et al.).

    The IdP signs ``victim@x.test.evil.test``; ``victim@x.test<!---->.evil.test`` still verifies
    (exclusive C14N drops comments) and this SP reads ``victim@x.test``.
    """

    def text_value(self, element: etree._Element) -> str:
        """The text before the first child node of a NameID or AttributeValue (breaks rule 11)."""
        return element.text or ""


class IgnoreTime(MiniSp):
    """Skips every time check, as when validity checks are switched off to cure clock-skew errors.

    An assertion captured last year still signs in. Seen assertion IDs are kept for a fixed hour, so the
    replay cache works as before.
    """

    def check_time(self, what: str, moment: dt.datetime, rule: TimeRule) -> None:
        """No IssueInstant window, no NotBefore, no NotOnOrAfter."""

    def replay_expiry(self, assertion: etree._Element) -> dt.datetime:
        return self.now() + dt.timedelta(hours=1)


class AcceptUnsolicited(MiniSp):
    """IdP-initiated sign-in left on: a response answering no request is accepted (login CSRF).

    An attacker posts their own valid response into a victim's browser, who then works in the attacker's
    account. A response naming a request this SP never sent is still refused.
    """

    def check_in_response_to(self, response: etree._Element) -> PendingRequest | None:
        """No InResponseTo is accepted even when ``allow_unsolicited`` is off (breaks rule 9)."""
        if response.get("InResponseTo") is None:
            return None
        return super().check_in_response_to(response)
