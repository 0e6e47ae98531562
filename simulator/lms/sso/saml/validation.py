"""Strict validation of a SAML Response at the ACS (SAML core 2.0, profiles §4.1.4.3 and §4.1.4.5).

OneLogin's python3-saml (``strict`` mode) checks the schema, that there is exactly one assertion, that
the signed element is the one read (no signature wrapping), the signature against the IdP metadata
certificates, the issuer and the status. On top of it, and stricter than it, this module requires:

- a safely parsed document (no DTD, no entities: a 400, never an expansion);
- RSA-SHA256/384/512 signatures and SHA-256/384/512 digests only (SHA-1 refused);
- no XML comment inside NameID, AttributeValue, Issuer or Audience (comment-injection, CVE-2017-11427);
- ``Destination`` present and equal to our ACS URL (SAML core §3.2.2, profiles §4.1.4.5);
- ``InResponseTo`` naming a request we sent and have not seen answered (profiles §4.1.4.3), or no
  ``InResponseTo`` at all when the tenant allows IdP-initiated login;
- a bearer ``SubjectConfirmationData`` with ``Recipient`` equal to our ACS URL and a ``NotOnOrAfter`` in
  the future (profiles §4.1.4.2), and its ``InResponseTo`` equal to the response's;
- every ``AudienceRestriction`` naming our entityID (SAML core §2.5.1.4);
- ``NotBefore``/``NotOnOrAfter`` (core §2.5.1.2) against the wall clock with the tenant's skew;
- ``IssueInstant`` of the response and the assertion no older than :data:`MAX_MESSAGE_AGE_SECONDS` and
  not in the future (each widened by the skew): a response kept back or dated ahead is refused even while
  its conditions still hold (core §3.2.2 and §2.3.3; profiles §4.1.4.3);
- a never-seen assertion ID, recorded in the database so replay fails across processes (§4.1.4.5).

Example::

    assertion = validate_response(db, config, "demo", settings.sso, form["SAMLResponse"])
    assertion.name_id, assertion.attributes
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import (
    OneLogin_Saml2_Utils,
    OneLogin_Saml2_ValidationError,
    return_false_on_exception,
)
from sqlalchemy import bindparam, delete, insert
from sqlalchemy.exc import IntegrityError

from simulator.config import SandboxConfig
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import SandboxError
from simulator.core.prepared import Prepared
from simulator.core.request_limits import SAML_MESSAGE_BYTES, saml_message_too_large
from simulator.core.settings import SsoSettings
from simulator.core.untrusted_xml import UnreadableXml, parse_untrusted
from simulator.lms.sso.models import PendingAuthnRequest, SeenAssertion
from simulator.lms.sso.saml import schema
from simulator.lms.sso.saml.idp import identity_provider
from simulator.lms.sso.saml.sp import SpUrls, onelogin_settings, request_data_for

log = logging.getLogger(__name__)

MAX_MESSAGE_AGE_SECONDS = 300
"""How long after its IssueInstant a response is still taken (a browser posts it at once)."""
ALLOWED_SIGNATURE_METHODS = frozenset({Saml.RSA_SHA256, Saml.RSA_SHA384, Saml.RSA_SHA512})
ALLOWED_DIGEST_METHODS = frozenset({Saml.SHA256, Saml.SHA384, Saml.SHA512})
NS = {"saml": Saml.NS_SAML, "samlp": Saml.NS_SAMLP, "ds": Saml.NS_DS}
TEXT_IDENTITY_ELEMENTS = ("NameID", "AttributeValue", "Issuer", "Audience")
_Error = OneLogin_Saml2_ValidationError
ONELOGIN_CODES = {
    _Error.NO_SIGNATURE_FOUND: "saml_unsigned",
    _Error.INVALID_SIGNATURE: "saml_bad_signature",
    _Error.WRONG_AUDIENCE: "saml_wrong_audience",
    _Error.WRONG_DESTINATION: "saml_wrong_destination",
    _Error.EMPTY_DESTINATION: "saml_wrong_destination",
    _Error.WRONG_SUBJECTCONFIRMATION: "saml_wrong_subject_confirmation",
    _Error.WRONG_INRESPONSETO: "saml_wrong_in_response_to",
    _Error.ASSERTION_EXPIRED: "saml_expired",
    _Error.ASSERTION_TOO_EARLY: "saml_not_yet_valid",
    _Error.DEPRECATED_SIGNATURE_METHOD: "saml_weak_algorithm",
    _Error.DEPRECATED_DIGEST_METHOD: "saml_weak_algorithm",
}
"""Stable error codes for python3-saml's findings (the rest are ``saml_invalid``)."""
ONELOGIN_MESSAGES = {
    _Error.NO_SIGNATURE_FOUND: "The SAML response is not signed: the IdP must sign the response or "
    "the assertion.",
    _Error.INVALID_SIGNATURE: "The signature does not verify with the IdP's certificate.",
}
"""Our sentences for python3-saml findings whose own text is unclear (the rest keep python3-saml's)."""

schema.install()  # python3-saml's schema check, on schemas compiled once


class SamlResponseMalformed(SandboxError):
    code = "saml_response_malformed"
    http_status = 400


class SamlResponseRejected(SandboxError):
    code = "saml_response_rejected"
    http_status = 403


@dataclass(frozen=True)
class ValidatedAssertion:
    """What a valid response asserts about the subject."""

    assertion_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    session_index: str | None
    in_response_to: str | None
    return_to: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)


class _StrictResponse(OneLogin_Saml2_Response):
    """python3-saml's response with the tenant's clock skew instead of its fixed 300 s drift."""

    def __init__(self, settings: Any, response: str, skew_seconds: int) -> None:
        self.skew_seconds = skew_seconds
        super().__init__(settings, response)

    @return_false_on_exception
    def validate_timestamps(self) -> bool:
        """Conditions ``NotBefore`` ≤ now < ``NotOnOrAfter``, each widened by the skew (core §2.5.1.2)."""
        now = wall_now().timestamp()
        for conditions in self._query_assertion("/saml:Conditions"):
            not_before = conditions.get("NotBefore")
            not_on_or_after = conditions.get("NotOnOrAfter")
            if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now + self.skew_seconds:
                raise OneLogin_Saml2_ValidationError(
                    "The assertion is not yet valid (Conditions NotBefore is in the future).",
                    OneLogin_Saml2_ValidationError.ASSERTION_TOO_EARLY,
                )
            if (
                not_on_or_after
                and OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after) + self.skew_seconds <= now
            ):
                raise OneLogin_Saml2_ValidationError(
                    "The assertion has expired (Conditions NotOnOrAfter has passed).",
                    OneLogin_Saml2_ValidationError.ASSERTION_EXPIRED,
                )
        return True


def _refuse_weak_algorithms(document: Any) -> None:
    for method in document.iter(f"{{{Saml.NS_DS}}}SignatureMethod"):
        if method.get("Algorithm") not in ALLOWED_SIGNATURE_METHODS:
            raise SamlResponseRejected(
                f"Signature algorithm {method.get('Algorithm')} is refused: use RSA-SHA256 or stronger.",
                code="saml_weak_algorithm",
            )
    for method in document.iter(f"{{{Saml.NS_DS}}}DigestMethod"):
        if method.get("Algorithm") not in ALLOWED_DIGEST_METHODS:
            raise SamlResponseRejected(
                f"Digest algorithm {method.get('Algorithm')} is refused: use SHA-256 or stronger.",
                code="saml_weak_algorithm",
            )


def _refuse_comments_in_identity(document: Any) -> None:
    """Comments are outside the signature's canonical form, so they must not split an identity."""
    for name in TEXT_IDENTITY_ELEMENTS:
        for element in document.iter(f"{{{Saml.NS_SAML}}}{name}"):
            if any(isinstance(node, etree._Comment) for node in element.iter()):
                raise SamlResponseRejected(
                    f"The response carries an XML comment inside saml:{name}; refused (comment injection).",
                    code="saml_comment_injection",
                )


def _raw_document(saml_response: str) -> Any:
    """The message as sent, comments kept (python3-saml drops them), parsed without DTD or entities.

    Read before anything else — before the IdP's metadata is fetched — so hostile input costs nothing.
    """
    if not saml_response:
        raise SamlResponseMalformed("The SAMLResponse is missing.")
    if len(saml_response) > SAML_MESSAGE_BYTES:
        raise SamlResponseMalformed(saml_message_too_large("SAMLResponse"))
    try:
        data = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlResponseMalformed("The SAMLResponse is not valid base64.") from exc
    try:
        return parse_untrusted(data, "The SAMLResponse")
    except UnreadableXml as exc:
        raise SamlResponseMalformed(str(exc)) from exc


def _parse(settings: Any, saml_response: str, raw: Any, skew_seconds: int) -> _StrictResponse:
    _refuse_weak_algorithms(raw)
    _refuse_comments_in_identity(raw)
    try:
        response = _StrictResponse(settings, saml_response, skew_seconds)
    except Exception as exc:  # refused by python3-saml's parser, or an undecryptable assertion
        log.info("python3-saml could not read a SAMLResponse", exc_info=True)
        if raw.find(".//saml:EncryptedAssertion", NS) is not None:
            message = "The SAMLResponse's encrypted assertion does not decrypt with this SP's key."
        else:
            message = "The SAMLResponse is not a SAML 2.0 Response this service provider can read."
        raise SamlResponseMalformed(message) from exc
    if response.decrypted_document is not None:
        _refuse_weak_algorithms(response.decrypted_document)
    return response


def _check_destination(response: _StrictResponse, acs: str) -> None:
    destination = response.document.get("Destination")
    if destination != acs:
        raise SamlResponseRejected(
            f"The response's Destination is {destination!r}; it must be this ACS, {acs}.",
            code="saml_wrong_destination",
        )


def _check_issue_instants(response: _StrictResponse, assertion: Any, skew_seconds: int) -> None:
    """Response and assertion issued no more than MAX_MESSAGE_AGE_SECONDS ago and not in the future."""
    now = wall_now().timestamp()
    for what, element in (("response", response.document), ("assertion", assertion)):
        issued = element.get("IssueInstant")
        try:
            moment = OneLogin_Saml2_Utils.parse_SAML_to_time(issued) if issued else None
        except ValueError:
            moment = None
        if moment is None:
            raise SamlResponseRejected(f"The {what} has no usable IssueInstant.", code="saml_invalid")
        if moment > now + skew_seconds:
            raise SamlResponseRejected(
                f"The {what} is dated in the future (IssueInstant {issued}).", code="saml_not_yet_valid"
            )
        if moment + MAX_MESSAGE_AGE_SECONDS + skew_seconds < now:
            raise SamlResponseRejected(
                f"The {what} was issued too long ago (IssueInstant {issued}).", code="saml_expired"
            )


def _check_audiences(assertion: Any, entity_id: str) -> None:
    restrictions = assertion.findall("saml:Conditions/saml:AudienceRestriction", NS)
    if not restrictions:
        raise SamlResponseRejected("The assertion has no AudienceRestriction.", code="saml_wrong_audience")
    for restriction in restrictions:
        audiences = [(node.text or "").strip() for node in restriction.findall("saml:Audience", NS)]
        if entity_id not in audiences:
            raise SamlResponseRejected(
                f"The assertion is meant for {audiences}, not for this SP ({entity_id}).",
                code="saml_wrong_audience",
            )


def _check_subject_confirmation(
    assertion: Any, acs: str, in_response_to: str | None, skew_seconds: int
) -> float:
    """The bearer confirmation's NotOnOrAfter (epoch), once Recipient, time and InResponseTo hold."""
    now = wall_now().timestamp()
    problems = []
    for confirmation in assertion.findall("saml:Subject/saml:SubjectConfirmation", NS):
        data = confirmation.find("saml:SubjectConfirmationData", NS)
        if confirmation.get("Method") != Saml.CM_BEARER or data is None:
            continue
        not_on_or_after = data.get("NotOnOrAfter")
        not_before = data.get("NotBefore")
        if data.get("Recipient") != acs:
            problems.append(f"Recipient is {data.get('Recipient')!r}, not {acs}")
        elif data.get("InResponseTo") != in_response_to:
            problems.append("its InResponseTo differs from the response's")
        elif not not_on_or_after:
            problems.append("it has no NotOnOrAfter")
        elif OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after) + skew_seconds <= now:
            problems.append("it has expired")
        elif not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now + skew_seconds:
            problems.append("it is not yet valid")
        else:
            return float(OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after))
    detail = "; ".join(problems) or "there is no bearer SubjectConfirmationData"
    raise SamlResponseRejected(
        f"No valid bearer SubjectConfirmation: {detail}.", code="saml_wrong_subject_confirmation"
    )


_USE_UP_REQUEST = Prepared(
    delete(PendingAuthnRequest)
    .where(
        PendingAuthnRequest.tenant_id == bindparam("tenant_id"),
        PendingAuthnRequest.request_id == bindparam("request_id"),
        PendingAuthnRequest.expires_at > bindparam("now"),
    )
    .returning(PendingAuthnRequest.relay_state)
)
"""Finds and uses up the pending request in one statement: of two concurrent uses, one gets the row."""
_RECORD_ASSERTION = Prepared(insert(SeenAssertion))
"""An assertion ID already recorded breaks the (tenant_id, assertion_id) unique constraint."""


def _consume(
    db: Database,
    tenant_id: str,
    sso: SsoSettings,
    assertion_id: str,
    in_response_to: str | None,
    keep_until: dt.datetime,
) -> str | None:
    """Use up the matching AuthnRequest and record the assertion ID; returns the request's return path.

    One write transaction: a refusal rolls it back, so a rejected response uses nothing up. Both uses
    are atomic on every backend: the request is deleted with ``RETURNING`` (a concurrent second use
    finds nothing), and a replayed assertion ID breaks a unique constraint.
    """
    now = wall_now()
    return_to = None
    try:
        with db.prepared_transaction() as transaction:
            if in_response_to is None:
                if not sso.allow_idp_initiated:
                    raise SamlResponseRejected(
                        "Unsolicited (IdP-initiated) responses are not accepted by this tenant.",
                        code="saml_unsolicited_response",
                    )
            else:
                pending = transaction.first(
                    _USE_UP_REQUEST, {"tenant_id": tenant_id, "request_id": in_response_to, "now": now}
                )
                if pending is None:
                    raise SamlResponseRejected(
                        f"InResponseTo {in_response_to!r} names no pending request of this SP.",
                        code="saml_wrong_in_response_to",
                    )
                return_to = pending.relay_state
            transaction.run(
                _RECORD_ASSERTION,
                {"tenant_id": tenant_id, "assertion_id": assertion_id, "expires_at": keep_until},
            )
    except IntegrityError as exc:  # the assertion ID was used before (or by a concurrent request)
        raise SamlResponseRejected(
            f"Assertion {assertion_id} was already used.", code="saml_replayed_assertion"
        ) from exc
    return return_to


def validate_response(
    db: Database, config: SandboxConfig, tenant_id: str, sso: SsoSettings, saml_response: str
) -> ValidatedAssertion:
    """Validate a base64 ``SAMLResponse`` posted to the tenant's ACS; raises on the first problem."""
    raw = _raw_document(saml_response)
    idp = identity_provider(config, tenant_id, sso)
    settings = onelogin_settings(db, config, tenant_id, idp)
    urls = SpUrls.for_tenant(config, tenant_id)
    response = _parse(settings, saml_response, raw, sso.clock_skew_seconds)
    in_response_to = response.document.get("InResponseTo")
    try:
        response.is_valid(request_data_for(urls.acs), request_id=in_response_to, raise_exceptions=True)
    except OneLogin_Saml2_ValidationError as exc:
        code = ONELOGIN_CODES.get(exc.code, "saml_invalid")
        message = ONELOGIN_MESSAGES.get(exc.code, f"The SAML response is not valid: {exc}")
        raise SamlResponseRejected(message, code=code) from exc
    except Exception as exc:  # xmlsec and lxml errors while verifying
        log.info("a SAMLResponse's signature could not be checked", exc_info=True)
        raise SamlResponseRejected(
            "The SAML response's signature could not be checked: it is malformed.", code="saml_invalid"
        ) from exc
    _check_destination(response, urls.acs)
    assertions = response._query_assertion("")  # the assertion python3-saml verified (by signed ID)
    if len(assertions) != 1:
        raise SamlResponseRejected("The response must carry exactly one assertion.", code="saml_invalid")
    assertion = assertions[0]
    _check_issue_instants(response, assertion, sso.clock_skew_seconds)
    _check_audiences(assertion, urls.entity_id)
    confirmed_until = _check_subject_confirmation(assertion, urls.acs, in_response_to, sso.clock_skew_seconds)
    assertion_id = assertion.get("ID")
    keep_until = max(
        dt.datetime.fromtimestamp(confirmed_until, dt.UTC) + dt.timedelta(seconds=sso.clock_skew_seconds),
        wall_now() + dt.timedelta(seconds=sso.clock_skew_seconds),
    )
    try:
        attributes = _merged_attributes(response)
        name_id = response.get_nameid()
    except OneLogin_Saml2_ValidationError as exc:
        raise SamlResponseRejected(f"The SAML response is not valid: {exc}", code="saml_invalid") from exc
    return_to = _consume(db, tenant_id, sso, assertion_id, in_response_to, keep_until)
    return ValidatedAssertion(
        assertion_id=assertion_id,
        issuer=idp.entity_id,
        name_id=name_id,
        name_id_format=response.get_nameid_format(),
        session_index=response.get_session_index(),
        in_response_to=in_response_to,
        return_to=return_to,
        attributes=attributes,
    )


def _merged_attributes(response: _StrictResponse) -> dict[str, list[str]]:
    """Attribute values by URI ``Name`` and by ``FriendlyName`` (strings only)."""
    merged: dict[str, list[str]] = {}
    for source in (response.get_attributes(), response.get_friendlyname_attributes()):
        for name, values in source.items():
            merged.setdefault(name, [value for value in values if isinstance(value, str)])
    return merged
