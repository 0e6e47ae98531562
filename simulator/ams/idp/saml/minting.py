"""Minted SAML Responses: what the tenant's IdP would send an SP, with chosen parts made wrong on purpose.

A test of an SP needs responses that are validly signed with the IdP's real key yet say something the
SP must refuse: another audience, an expired condition, no ``InResponseTo``, a SHA-1 signature, an error
status with an assertion inside… Minting builds the response exactly as the IdP does for a sign-in
(same builder, same released attributes under the same wire names), applies the overrides to the tree,
then signs (and encrypts) it, so the signature covers exactly what the overrides say.

Every override is optional: a field left out keeps what the IdP would send; a field sent as ``null``
removes the element or attribute it names (``destination: null`` drops ``Destination``, ``audience:
null`` drops the ``AudienceRestriction``, ``name_id: null`` drops the ``NameID``). Times are instants
(ISO 8601) or whole seconds relative to now (``-3600``: an hour ago).

Example::

    minted = mint_response(db, "acme", ams_url, settings, MintRequest(
        sp="https://lms.example/saml/metadata", member_id="M100001", in_response_to="_req1",
        not_on_or_after=-600, sign="assertion"))
    minted["saml_response"]  # base64, ready for the SP's ACS (HTTP-POST binding)
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

from cryptography import x509
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulator.ams.idp.attributes import access_decision, member_attributes, released
from simulator.ams.idp.login import member_id_by_email, signed_in_member
from simulator.ams.idp.saml.idp import AuthnRequestInfo, TenantIdp, resolve_acs, tenant_idp
from simulator.ams.idp.saml.metadata import NAMEID_EMAIL, NAMEID_PERSISTENT
from simulator.ams.idp.saml.xmlsec_backend import SAML_NS
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.settings import TenantSettings

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
STATUS_PREFIX = "urn:oasis:names:tc:SAML:2.0:status:"
NAMEID_FORMATS = {
    "persistent": NAMEID_PERSISTENT,
    "email": NAMEID_EMAIL,
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
}
TEN_YEARS = 10 * 366 * 86_400
TimeValue = dt.datetime | int
TIME_DESCRIPTION = "An instant (ISO 8601; no zone means UTC) or whole seconds from now (negative: the past)."


class NameIdOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str | None = Field(None, min_length=1, max_length=1000, description="Default: as the IdP sends.")
    format: str | None = Field(
        None,
        max_length=200,
        description="persistent, email, transient, unspecified or a format URI (default: persistent).",
    )


class StatusOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        "Success",
        max_length=200,
        description="Success, Requester, Responder, VersionMismatch or a status URI (SAML core §3.2.2.2).",
    )
    second_level: str | None = Field(
        None, max_length=200, description="A nested status, e.g. AuthnFailed or RequestDenied (or a URI)."
    )
    message: str | None = Field(None, max_length=1000)


class MintRequest(BaseModel):
    """What to mint: for whom, for which SP, and what to make different from a real sign-in."""

    model_config = ConfigDict(extra="forbid")

    sp: str = Field(..., min_length=1, max_length=2000, description="EntityID of a registered SP.")
    member_id: str | None = Field(None, min_length=1, max_length=32, description="The subject (or `email`).")
    email: str | None = Field(None, min_length=3, max_length=254, description="The subject (or `member_id`).")
    in_response_to: str | None = Field(
        None, min_length=1, max_length=256, description="The AuthnRequest ID answered (none: unsolicited)."
    )
    acs_url: str | None = Field(
        None, min_length=1, max_length=2000, description="Where it goes (default: the SP's default ACS)."
    )
    destination: str | None = Field(None, max_length=2000, description="Default: the ACS URL.")
    recipient: str | None = Field(
        None, max_length=2000, description="Bearer Recipient; default: the ACS URL."
    )
    audience: str | list[str] | None = Field(None, description="Audience(s); default: the SP's entityID.")
    issuer: str | None = Field(None, min_length=1, max_length=2000, description="Default: the IdP entityID.")
    issue_instant: TimeValue | None = Field(None, description=TIME_DESCRIPTION)
    not_before: TimeValue | None = Field(None, description="Conditions NotBefore. " + TIME_DESCRIPTION)
    not_on_or_after: TimeValue | None = Field(
        None, description="Conditions NotOnOrAfter. " + TIME_DESCRIPTION
    )
    subject_not_on_or_after: TimeValue | None = Field(
        None, description="SubjectConfirmationData NotOnOrAfter. " + TIME_DESCRIPTION
    )
    authn_instant: TimeValue | None = Field(
        None, description="AuthnStatement AuthnInstant. " + TIME_DESCRIPTION
    )
    name_id: NameIdOverride | None = Field(None, description="null: no NameID at all.")
    attributes: dict[str, str | list[str] | None] = Field(
        default_factory=dict,
        max_length=100,
        description="Values by canonical name (member_id, email, member_status…); null removes one.",
    )
    status: StatusOverride = Field(default_factory=StatusOverride)
    assertion: bool = Field(True, description="false: a Response without any assertion.")
    version: str = Field("2.0", min_length=1, max_length=10, description="Version of Response and Assertion.")
    sign: Literal["assertion", "response", "both", "none"] | None = Field(
        None, description="What to sign (default: as the SP is registered)."
    )
    signature_algorithm: Literal["rsa-sha256", "rsa-sha384", "rsa-sha512", "rsa-sha1"] = "rsa-sha256"
    digest_algorithm: Literal["sha256", "sha384", "sha512", "sha1"] = "sha256"
    encrypt: bool | None = Field(
        None, description="Encrypt the assertion (default: as the SP is registered)."
    )
    encryption_certificate: str | None = Field(
        None,
        max_length=20_000,
        description="PEM certificate to encrypt to (default: the SP's metadata encryption certificate).",
    )

    @field_validator(
        "issue_instant", "not_before", "not_on_or_after", "subject_not_on_or_after", "authn_instant"
    )
    @classmethod
    def _bounded_time(cls, value: TimeValue | None) -> TimeValue | None:
        if isinstance(value, int) and abs(value) > TEN_YEARS:
            raise ValueError("a relative time is at most ten years (in seconds) from now")
        if isinstance(value, dt.datetime) and not dt.datetime(1971, 1, 1) < value.replace(tzinfo=None):
            raise ValueError("the instant is before 1971")
        return value

    @field_validator("audience")
    @classmethod
    def _audiences(cls, value: str | list[str] | None) -> str | list[str] | None:
        values = [value] if isinstance(value, str) else value or []
        if isinstance(value, list) and not 1 <= len(value) <= 20:
            raise ValueError("give 1 to 20 audiences, or null for no AudienceRestriction")
        if any(not 1 <= len(item) <= 2000 for item in values):
            raise ValueError("an audience is 1 to 2000 characters")
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_values(cls, value: dict[str, str | list[str] | None]) -> dict[str, str | list[str] | None]:
        for name, values in value.items():
            if not 1 <= len(name) <= 200:
                raise ValueError("an attribute name is 1 to 200 characters")
            items = [values] if isinstance(values, str) else values or []
            if len(items) > 50 or any(len(item) > 2000 for item in items):
                raise ValueError(f"attribute '{name}': at most 50 values of 2000 characters")
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> MintRequest:
        if (self.member_id is None) == (self.email is None):
            raise ValueError("give exactly one of 'member_id' and 'email'")
        return self


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid value for '{field}': {message}.", errors=[{"field": field, "message": message}]
    )


def _instant(value: TimeValue, now: dt.datetime) -> str:
    """SAML core 2.0 §1.3.3: xs:dateTime in UTC without fractions."""
    if isinstance(value, int):
        moment = now + dt.timedelta(seconds=value)
    else:
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_uri(value: str) -> str:
    return value if ":" in value else STATUS_PREFIX + value


def _encryption_pem(body: MintRequest, default_pem: str | None) -> str | None:
    if body.encryption_certificate is None:
        return default_pem
    try:
        x509.load_pem_x509_certificate(body.encryption_certificate.encode())
    except ValueError as exc:
        raise _invalid("encryption_certificate", "is not a PEM X.509 certificate") from exc
    return body.encryption_certificate


class _Tree:
    """The response being minted, with the elements overrides touch."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.assertion = root.find(f"{{{SAML_NS}}}Assertion")

    def find(self, path: str) -> list[etree._Element]:
        if self.assertion is None:
            return []
        return self.assertion.findall(path.replace("saml:", f"{{{SAML_NS}}}"))

    def set_or_drop(self, elements: list[etree._Element], attribute: str, value: str | None) -> None:
        for element in elements:
            if value is None:
                element.attrib.pop(attribute, None)
            else:
                element.set(attribute, value)


def _apply_overrides(
    tree: _Tree, body: MintRequest, given: set[str], sp_entity_id: str, now: dt.datetime
) -> None:
    """Change the freshly built response as the request says (SAML core 2.0 §2.3–§3.3)."""
    root, assertion = tree.root, tree.assertion
    if "destination" in given:
        tree.set_or_drop([root], "Destination", body.destination)
    if "recipient" in given:
        tree.set_or_drop(
            tree.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"),
            "Recipient",
            body.recipient,
        )
    if body.issuer is not None:
        for issuer in [root.find(f"{{{SAML_NS}}}Issuer"), *tree.find("saml:Issuer")]:
            if issuer is not None:
                issuer.text = body.issuer
    if "audience" in given:
        _set_audiences(tree, body.audience, sp_entity_id)
    times = {
        "issue_instant": [
            (root, "IssueInstant"),
            *((a, "IssueInstant") for a in [assertion] if a is not None),
        ],
        "not_before": [(c, "NotBefore") for c in tree.find("saml:Conditions")],
        "not_on_or_after": [(c, "NotOnOrAfter") for c in tree.find("saml:Conditions")],
        "subject_not_on_or_after": [
            (d, "NotOnOrAfter")
            for d in tree.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")
        ],
        "authn_instant": [(s, "AuthnInstant") for s in tree.find("saml:AuthnStatement")],
    }
    for field, targets in times.items():
        if field in given:
            value = getattr(body, field)
            for element, attribute in targets:
                tree.set_or_drop([element], attribute, None if value is None else _instant(value, now))
    if "name_id" in given:
        _set_name_id(tree, body.name_id)
    _set_status(root, body.status)
    if body.version != "2.0":
        for element in [root, assertion]:
            if element is not None:
                element.set("Version", body.version)
    if not body.assertion and assertion is not None:
        root.remove(assertion)
        tree.assertion = None


def _set_audiences(tree: _Tree, audience: str | list[str] | None, sp_entity_id: str) -> None:
    for conditions in tree.find("saml:Conditions"):
        for restriction in conditions.findall(f"{{{SAML_NS}}}AudienceRestriction"):
            conditions.remove(restriction)
        if audience is not None:
            restriction = etree.SubElement(conditions, f"{{{SAML_NS}}}AudienceRestriction")
            for value in [audience] if isinstance(audience, str) else audience:
                etree.SubElement(restriction, f"{{{SAML_NS}}}Audience").text = value


def _set_name_id(tree: _Tree, override: NameIdOverride | None) -> None:
    for name_id in tree.find("saml:Subject/saml:NameID"):
        if override is None:
            name_id.getparent().remove(name_id)
            continue
        if override.value is not None:
            name_id.text = override.value
        if override.format is not None:
            name_id.set("Format", NAMEID_FORMATS.get(override.format, override.format))


def _set_status(root: etree._Element, status: StatusOverride) -> None:
    code = root.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    if code is None:
        return
    code.set("Value", _status_uri(status.code))
    if status.second_level is not None:
        etree.SubElement(code, f"{{{SAMLP_NS}}}StatusCode").set("Value", _status_uri(status.second_level))
    if status.message is not None:
        etree.SubElement(code.getparent(), f"{{{SAMLP_NS}}}StatusMessage").text = status.message


def _attributes(base: dict[str, str], overrides: dict[str, str | list[str] | None]) -> dict[str, list[str]]:
    values = {name: [value] for name, value in base.items()}
    for name, value in overrides.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = [value] if isinstance(value, str) else list(value)
    return values


def _subject(db: Database, tenant_id: str, body: MintRequest) -> Any:
    member_id = body.member_id
    if member_id is None and body.email is not None:
        member_id = member_id_by_email(db, tenant_id, body.email)
    member = signed_in_member(db, tenant_id, member_id) if member_id else None
    if member is None:
        who = body.member_id or body.email
        raise NotFound(f"There is no active member {who} in this tenant.", code="member_not_found")
    return member


def mint_response(
    db: Database, tenant_id: str, ams_url: str, settings: TenantSettings, body: MintRequest
) -> dict[str, Any]:
    """A response the tenant's IdP signs for ``body.sp`` about one member, with ``body``'s overrides."""
    idp: TenantIdp = tenant_idp(db, tenant_id, ams_url, settings.sso)
    sp = idp.sps.get(body.sp)
    if sp is None:
        raise NotFound(f"No service provider '{body.sp}' is registered.", code="service_provider_not_found")
    member = _subject(db, tenant_id, body)
    decision = access_decision(member, settings.access)
    values = released(member_attributes(member, settings.sso, decision.access), sp.attributes)
    given = body.model_fields_set
    name_id_format = NAMEID_PERSISTENT
    if body.name_id is not None and body.name_id.format is not None:
        name_id_format = NAMEID_FORMATS.get(body.name_id.format, body.name_id.format)
    acs_url = body.acs_url or resolve_acs(sp, None, None)
    info = AuthnRequestInfo(sp.entity_id, body.in_response_to, acs_url, name_id_format)
    identity = _attributes(values, body.attributes)
    root = idp.response_tree(
        info, identity, member.member_id, member.email, settings.sso.assertion_lifetime_seconds
    )
    tree = _Tree(root)
    _apply_overrides(tree, body, given, sp.entity_id, wall_now())
    encrypt = sp.encrypt_assertion if body.encrypt is None else body.encrypt
    default_pem = idp.encryption_pem(sp)
    encrypt_to = _encryption_pem(body, default_pem) if encrypt else None
    if encrypt and encrypt_to is None:
        raise _invalid(
            "encrypt", "the SP's metadata has no encryption certificate; send 'encryption_certificate'"
        )
    sign = body.sign or sp.sign
    assertion_id = tree.assertion.get("ID") if tree.assertion is not None else None
    idp.seal(root, sign, encrypt_to, body.signature_algorithm, body.digest_algorithm)
    xml = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return {
        "saml_response": base64.b64encode(xml).decode(),
        "xml": xml.decode(),
        "acs_url": acs_url,
        "sp": sp.entity_id,
        "member_id": member.member_id,
        "response_id": root.get("ID"),
        "assertion_id": assertion_id,
        "in_response_to": body.in_response_to,
        "sign": sign,
        "encrypted": encrypt_to is not None and assertion_id is not None,
    }
