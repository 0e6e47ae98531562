"""A minimal, strict SAML 2.0 service provider on lxml and python-xmlsec; protocol logic only, no Flask.

:class:`MiniSp` publishes its metadata, starts SP-initiated sign-in with a signed HTTP-Redirect
AuthnRequest and consumes HTTP-POST responses. :meth:`MiniSp.consume` runs the checks of SAML core 2.0,
bindings 2.0 §3.5 and profiles 2.0 §4.1 in order, each its own method, so that a subclass in
:mod:`conformance.broken.flaws` can break exactly one of them.

Example::

    sp = MiniSp("http://127.0.0.1:8080", idp_metadata_xml)
    start = sp.start_login("/whoami")   # start.redirect_url: the IdP's SSO URL with a signed request
    result = sp.consume(form["SAMLResponse"], form.get("RelayState"))
    result.identity["name_id"], result.redirect_to
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import zlib
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import xmlsec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from conformance.broken.saml import (
    ASSERTION,
    BEARER,
    DEFAULT_RETURN_TO,
    DIGEST_METHODS,
    DS,
    ENVELOPED,
    EXC_C14N,
    EXC_C14N_METHODS,
    HTTP_POST,
    ISSUE_WINDOW,
    MAX_RESPONSE_BASE64,
    MD,
    NAMED_FIELDS,
    NS,
    PERSISTENT,
    REQUEST_LIFETIME,
    RSA_SHA256,
    SAML,
    SAMLP,
    SIGNATURE_METHODS,
    SUCCESS,
    UNSPECIFIED,
    XML_ID,
    ExpiringStore,
    IdpMetadata,
    LoginStart,
    MalformedMessage,
    PendingRequest,
    SignIn,
    SignInRefused,
    TimeRule,
    instant,
    is_local_path,
    parse_instant,
    safe_parse,
    whole_text,
)
from simulator.core.certificates import self_signed_rsa


class MiniSp:
    """A strict SAML 2.0 SP at ``base_url``; each numbered rule of :meth:`consume` is one method."""

    def __init__(
        self, base_url: str, idp_metadata_xml: str, allow_unsolicited: bool = False, skew_seconds: int = 180
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.entity_id = f"{self.base_url}/metadata"
        self.acs_url = f"{self.base_url}/acs"
        self.idp = IdpMetadata.parse(idp_metadata_xml)
        self.allow_unsolicited = allow_unsolicited
        self.skew = dt.timedelta(seconds=skew_seconds)
        self._private_key, _, certificate_pem = self_signed_rsa(f"mini SP {self.base_url}")
        self.certificate_base64 = "".join(
            line for line in certificate_pem.strip().splitlines() if not line.startswith("-----")
        )
        try:
            self._idp_keys = [
                xmlsec.Key.from_memory(base64.b64decode(cert), xmlsec.constants.KeyDataFormatCertDer)
                for cert in self.idp.signing_certificates
            ]
        except (xmlsec.Error, ValueError) as exc:
            raise ValueError(f"An IdP signing certificate in the metadata is unusable: {exc}") from exc
        self.pending: ExpiringStore[PendingRequest] = ExpiringStore(self.now)
        self.seen_assertions: ExpiringStore[bool] = ExpiringStore(self.now)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def metadata(self) -> str:
        """Metadata 2.0 §2.4.4: an SPSSODescriptor, signed requests, an HTTP-POST ACS, no encryption key."""
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID={quoteattr(self.entity_id)}>
  <md:SPSSODescriptor protocolSupportEnumeration="{SAMLP}" AuthnRequestsSigned="true"
      WantAssertionsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{self.certificate_base64}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>{PERSISTENT}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{HTTP_POST}" Location={quoteattr(self.acs_url)} index="0"
        isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""

    def start_login(self, return_to: str | None) -> LoginStart:
        """Core 2.0 §3.4.1: a fresh AuthnRequest, remembered for 10 minutes, sent by HTTP-Redirect."""
        request_id = "_" + secrets.token_hex(16)
        relay_state = return_to if return_to and is_local_path(return_to) else DEFAULT_RETURN_TO
        self.pending.add(request_id, PendingRequest(request_id, relay_state), self.now() + REQUEST_LIFETIME)
        xml = (
            f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{request_id}" Version="2.0"'
            f' IssueInstant="{instant(self.now())}" Destination={quoteattr(self.idp.sso_redirect_url)}'
            f' AssertionConsumerServiceURL={quoteattr(self.acs_url)} ProtocolBinding="{HTTP_POST}">'
            f"<saml:Issuer>{escape(self.entity_id)}</saml:Issuer>"
            f'<samlp:NameIDPolicy Format="{UNSPECIFIED}" AllowCreate="true"/></samlp:AuthnRequest>'
        )
        separator = "&" if "?" in self.idp.sso_redirect_url else "?"
        query = self.redirect_query(xml.encode(), relay_state)
        return LoginStart(request_id, f"{self.idp.sso_redirect_url}{separator}{query}")

    def redirect_query(self, xml: bytes, relay_state: str) -> str:
        """Bindings 2.0 §3.4.4.1: DEFLATE, base64, URL-encode; sign ``SAMLRequest&RelayState&SigAlg`` as sent.

        The IdP verifies the signature over exactly these octets of the query string.
        """
        compressor = zlib.compressobj(wbits=-15)
        deflated = compressor.compress(xml) + compressor.flush()
        parameters = (
            ("SAMLRequest", base64.b64encode(deflated).decode()),
            ("RelayState", relay_state),
            ("SigAlg", RSA_SHA256),
        )
        signed = "&".join(f"{name}={quote(value, safe='')}" for name, value in parameters)
        signature = self._private_key.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"

    def consume(self, saml_response: str, relay_state: str | None = None) -> SignIn:
        """Profiles 2.0 §4.1.4.3: accept a Response posted to the ACS, or raise :class:`SignInRefused`.

        Everything is validated first; only then is the assertion ID remembered and the request used up.
        """
        response = self.parse_message(saml_response)
        self.check_response(response)
        self.check_status(response)
        assertion = self.locate_assertion(response)
        self.check_signatures(response, assertion)
        self.check_assertion(assertion)
        name_id = self.check_subject(response, assertion)
        self.check_conditions(assertion)
        self.check_audience(assertion)
        pending = self.check_in_response_to(response)
        identity = self.read_identity(name_id, assertion)
        self.remember_assertion(assertion.get("ID"), self.replay_expiry(assertion))
        if pending is not None:
            self.use_up_request(pending)
            return SignIn(identity, pending.return_to)
        return SignIn(identity, relay_state if is_local_path(relay_state) else DEFAULT_RETURN_TO)

    def parse_message(self, saml_response: str) -> etree._Element:
        """Rule 1, bindings 2.0 §3.5.4: the form value is base64 XML: ≤ 512 KiB, no DTD, bounded depth."""
        compact = "".join(saml_response.split())
        if len(compact) > MAX_RESPONSE_BASE64:
            raise MalformedMessage("The SAMLResponse is larger than 512 KiB.")
        try:
            data = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedMessage("The SAMLResponse is not base64.") from exc
        try:
            return safe_parse(data)
        except etree.XMLSyntaxError as exc:
            raise MalformedMessage(f"The SAMLResponse is not acceptable XML: {exc}") from exc
        except ValueError as exc:
            raise MalformedMessage("The SAMLResponse carries a DTD.") from exc

    def check_response(self, response: etree._Element) -> None:
        """Rule 2, core 2.0 §3.2.2, bindings 2.0 §3.5.5.2: a recent 2.0 Response to this ACS from the IdP."""
        if response.tag != f"{{{SAMLP}}}Response" or response.get("Version") != "2.0":
            raise SignInRefused("The message is not a SAML 2.0 Response.")
        self.check_time("The Response's IssueInstant", self._instant(response, "IssueInstant"), "issued")
        if response.get("Destination") != self.acs_url:
            raise SignInRefused(f"The Response's Destination is not {self.acs_url}.")
        issuer = response.find("saml:Issuer", NS)
        if issuer is not None and whole_text(issuer).strip() != self.idp.entity_id:
            raise SignInRefused("The Response's Issuer is not the IdP.")

    def check_status(self, response: etree._Element) -> None:
        """Rule 3, core 2.0 §3.2.2.2: the top-level StatusCode must be Success."""
        code = response.find("samlp:Status/samlp:StatusCode", NS)
        value = code.get("Value") if code is not None else None
        if value != SUCCESS:
            raise SignInRefused(f"The IdP did not sign you in (status {value}).")

    def locate_assertion(self, response: etree._Element) -> etree._Element:
        """Rule 4, profiles 2.0 §4.1.4.2: exactly one Assertion in the document, a child of the Response.

        No EncryptedAssertion either (core 2.0 §2.3.4): this SP publishes no encryption key.
        """
        if next(response.iter(f"{{{SAML}}}EncryptedAssertion"), None) is not None:
            raise SignInRefused("The Response carries an EncryptedAssertion; this SP has no encryption key.")
        assertions = list(response.iter(ASSERTION))
        if len(assertions) != 1 or assertions[0].getparent() is not response:
            raise SignInRefused("The Response must carry exactly one Assertion, as its own child.")
        return assertions[0]

    def check_signatures(self, response: etree._Element, assertion: etree._Element) -> None:
        """Rule 5, profiles 2.0 §4.1.3.5 and core 2.0 §5.4: the Response, the Assertion or both are signed.

        IDs MUST be unique (core 2.0 §1.3.4); each signature is an enveloped child of what it signs and
        verifies with a signing key of the IdP's metadata, never one the message offers in ds:KeyInfo.
        """
        ids = [
            value
            for element in response.iter(etree.Element)
            for value in (element.get("ID"), element.get(XML_ID))
            if value is not None
        ]
        if len(ids) != len(set(ids)):
            raise SignInRefused("Two elements of the Response carry the same ID.")
        signed = []
        for parent in (response, assertion):
            signatures = parent.findall("ds:Signature", NS)
            if len(signatures) > 1:
                raise SignInRefused("An element carries more than one signature.")
            signed.extend((parent, signature) for signature in signatures)
        if not signed:
            raise SignInRefused("Neither the Response nor its Assertion is signed.")
        xmlsec.tree.add_ids(response, ["ID"])
        for parent, signature in signed:
            self.check_signature_profile(parent, signature)
            self.verify_with_idp_keys(signature)

    def check_signature_profile(self, parent: etree._Element, signature: etree._Element) -> None:
        """Core 2.0 §5.4.2–5.4.4: one Reference to the parent's ID; enveloped and exclusive C14N; no SHA-1."""
        signed_info = signature.find("ds:SignedInfo", NS)
        references = signed_info.findall("ds:Reference", NS) if signed_info is not None else []
        if len(references) != 1 or not parent.get("ID") or references[0].get("URI") != "#" + parent.get("ID"):
            raise SignInRefused("A signature must have one Reference, to the element it is part of.")
        transforms = [t.get("Algorithm") for t in references[0].iterfind("ds:Transforms/ds:Transform", NS)]
        if ENVELOPED not in transforms or not set(transforms) <= {ENVELOPED, EXC_C14N}:
            raise SignInRefused("A signature may use only the enveloped and exclusive C14N transforms.")
        if len(transforms) != len(set(transforms)):
            raise SignInRefused("A signature repeats a transform.")
        self.check_algorithms(signature)

    def check_algorithms(self, signature: etree._Element) -> None:
        """XML Signature 1.1 §6: exclusive C14N, RSA-SHA256 or stronger, SHA-256 digests or stronger."""
        signed_info = signature.find("ds:SignedInfo", NS)
        if signed_info is None:
            raise SignInRefused("A signature has no SignedInfo.")
        for path, allowed in (
            ("ds:CanonicalizationMethod", EXC_C14N_METHODS),
            ("ds:SignatureMethod", SIGNATURE_METHODS),
            ("ds:Reference/ds:DigestMethod", DIGEST_METHODS),
        ):
            if signed_info.xpath(f"string({path}/@Algorithm)", namespaces=NS) not in allowed:
                name = path.rsplit(":", 1)[1]
                raise SignInRefused(f"A signature's {name} must be one of {sorted(allowed)} (no SHA-1).")

    def verify_with_idp_keys(self, signature: etree._Element) -> None:
        """XML Signature core validation with each IdP metadata key (core 2.0 §5.4.5: KeyInfo is not trusted).

        The key is set on the context, so xmlsec never reads the message's ds:KeyInfo (a KeysManager
        would: libxmlsec1 1.3 finds its keys only through the message's KeyName or X509Data).
        """
        for key in self._idp_keys:
            context = xmlsec.SignatureContext()
            context.key = key
            try:
                context.verify(signature)
            except (xmlsec.Error, ValueError):
                continue
            return
        raise SignInRefused("A signature does not verify with the IdP's signing key.")

    def check_assertion(self, assertion: etree._Element) -> None:
        """Rule 6, core 2.0 §2.3.3: a 2.0 Assertion with an ID, recently issued by the IdP."""
        if assertion.get("Version") != "2.0" or not assertion.get("ID"):
            raise SignInRefused("The Assertion is not a SAML 2.0 assertion with an ID.")
        self.check_time("The Assertion's IssueInstant", self._instant(assertion, "IssueInstant"), "issued")
        issuer = assertion.find("saml:Issuer", NS)
        if issuer is None or whole_text(issuer).strip() != self.idp.entity_id:
            raise SignInRefused("The Assertion's Issuer is not the IdP.")

    def check_subject(self, response: etree._Element, assertion: etree._Element) -> etree._Element:
        """Rule 7, profiles 2.0 §4.1.4.2–4.1.4.3: a NameID and a bearer confirmation for this ACS, now.

        Returns the NameID element.
        """
        name_id = assertion.find("saml:Subject/saml:NameID", NS)
        if name_id is None or not self.text_value(name_id).strip():
            raise SignInRefused("The Assertion names nobody (no NameID).")
        refusals = []
        for confirmation in assertion.iterfind("saml:Subject/saml:SubjectConfirmation", NS):
            if confirmation.get("Method") != BEARER:
                continue
            try:
                self.check_confirmation_data(confirmation.find("saml:SubjectConfirmationData", NS), response)
            except SignInRefused as refusal:
                refusals.append(refusal)
                continue
            return name_id
        raise refusals[0] if refusals else SignInRefused("The Assertion has no bearer SubjectConfirmation.")

    def check_confirmation_data(self, data: etree._Element | None, response: etree._Element) -> None:
        """Profiles 2.0 §4.1.4.2: Recipient is this ACS, NotOnOrAfter ahead, InResponseTo the Response's."""
        if data is None or data.get("Recipient") != self.acs_url:
            raise SignInRefused(f"The bearer confirmation's Recipient is not {self.acs_url}.")
        self.check_time(
            "The confirmation's NotOnOrAfter", self._instant(data, "NotOnOrAfter"), "not_on_or_after"
        )
        if data.get("NotBefore") is not None:
            self.check_time("The confirmation's NotBefore", self._instant(data, "NotBefore"), "not_before")
        if data.get("InResponseTo") != response.get("InResponseTo"):
            raise SignInRefused("The confirmation's InResponseTo differs from the Response's.")

    def check_conditions(self, assertion: etree._Element) -> None:
        """Rule 8, core 2.0 §2.5.1.2: NotBefore ≤ now and now < NotOnOrAfter, each give or take the skew."""
        conditions = assertion.find("saml:Conditions", NS)
        if conditions is None:
            return
        if conditions.get("NotBefore") is not None:
            self.check_time("The Conditions' NotBefore", self._instant(conditions, "NotBefore"), "not_before")
        if conditions.get("NotOnOrAfter") is not None:
            moment = self._instant(conditions, "NotOnOrAfter")
            self.check_time("The Conditions' NotOnOrAfter", moment, "not_on_or_after")

    def check_audience(self, assertion: etree._Element) -> None:
        """Rule 8, core 2.0 §2.5.1.4 and profiles 2.0 §4.1.4.2: every AudienceRestriction names this SP."""
        restrictions = assertion.findall("saml:Conditions/saml:AudienceRestriction", NS)
        if not restrictions:
            raise SignInRefused("The Assertion has no AudienceRestriction.")
        for restriction in restrictions:
            audiences = [whole_text(a).strip() for a in restriction.iterfind("saml:Audience", NS)]
            if self.entity_id not in audiences:
                raise SignInRefused("The Assertion is meant for another audience.")

    def check_in_response_to(self, response: etree._Element) -> PendingRequest | None:
        """Rule 9, profiles 2.0 §4.1.5: InResponseTo names a pending request; none only if unsolicited is on.

        The request is not used up here: :meth:`use_up_request` does that once the response is accepted.
        """
        request_id = response.get("InResponseTo")
        if request_id is None:
            if not self.allow_unsolicited:
                raise SignInRefused("This SP accepts no unsolicited responses (no InResponseTo).")
            return None
        pending = self.pending.get(request_id)
        if pending is None:
            raise SignInRefused("The Response answers no request this SP is waiting for.")
        return pending

    def use_up_request(self, pending: PendingRequest) -> None:
        """Rule 9, profiles 2.0 §4.1.4.3: a request is answered once."""
        if self.pending.get(pending.request_id, remove=True) is None:
            raise SignInRefused("The request this Response answers was already used.")

    def remember_assertion(self, assertion_id: str, until: dt.datetime) -> None:
        """Rule 10, profiles 2.0 §4.1.4.5: a bearer assertion is used once; its ID is kept while valid."""
        if not self.seen_assertions.add(assertion_id, True, until):
            raise SignInRefused("This assertion was used before (replay).")

    def replay_expiry(self, assertion: etree._Element) -> dt.datetime:
        """Profiles 2.0 §4.1.4.5: until the latest NotOnOrAfter of the assertion, plus the skew."""
        values = assertion.xpath(
            "saml:Conditions/@NotOnOrAfter | saml:Subject/saml:SubjectConfirmation"
            "/saml:SubjectConfirmationData/@NotOnOrAfter",
            namespaces=NS,
        )
        moments = [moment for moment in map(parse_instant, values) if moment is not None]
        return max(moments, default=self.now()) + self.skew

    def read_identity(self, name_id: etree._Element, assertion: etree._Element) -> dict[str, Any]:
        """Rule 11, core 2.0 §2.2.3 and §2.7.3.1: NameID and attributes, read from the verified elements."""
        attributes: dict[str, list[str]] = {}
        first_values: dict[str, str] = {}
        for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
            name = attribute.get("Name")
            if not name:
                continue
            values = [self.text_value(value) for value in attribute.iterfind("saml:AttributeValue", NS)]
            attributes.setdefault(name, []).extend(values)
            for key in (attribute.get("FriendlyName"), name):
                if key and values:
                    first_values.setdefault(key, values[0])
        identity: dict[str, Any] = {
            "name_id": self.text_value(name_id),
            "name_id_format": name_id.get("Format"),
        }
        for field, (friendly_name, name) in NAMED_FIELDS.items():
            identity[field] = first_values.get(friendly_name, first_values.get(name))
        identity["email"] = identity["email"] or identity["name_id"]
        identity["attributes"] = attributes
        return identity

    def text_value(self, element: etree._Element) -> str:
        """Core 2.0 §2.2.3, §2.7.3.1.1: a NameID or AttributeValue is its whole text; comments cut nothing."""
        return whole_text(element)

    def check_time(self, what: str, moment: dt.datetime, rule: TimeRule) -> None:
        """Core 2.0 §1.3.3 and §2.5.1.2: compare an instant with now, allowing the clock skew either way.

        ``issued``: within the last 5 minutes; ``not_before``: not in the future; ``not_on_or_after``: in
        the future.
        """
        now = self.now()
        if rule == "issued":
            valid = now - ISSUE_WINDOW - self.skew <= moment <= now + self.skew
        elif rule == "not_before":
            valid = moment <= now + self.skew
        else:
            valid = moment > now - self.skew
        if not valid:
            raise SignInRefused(
                f"{what} ({instant(moment)}) is outside its time window (now {instant(now)})."
            )

    def _instant(self, element: etree._Element, attribute: str) -> dt.datetime:
        moment = parse_instant(element.get(attribute))
        if moment is None:
            raise SignInRefused(f"The {etree.QName(element).localname}'s {attribute} is not an xs:dateTime.")
        return moment
