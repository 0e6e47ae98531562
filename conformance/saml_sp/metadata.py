"""The SP's metadata as the suite reads it (SAML metadata 2.0 §2.4.4): entityID, ACS endpoints, keys.

Example::

    metadata = parse_sp_metadata(xml)
    metadata.entity_id, metadata.post_acs, metadata.authn_requests_signed
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree

from conformance.saml_sp.messages import MD, NS, POST_BINDING, parse
from simulator.core.errors import SandboxError


class MetadataUnusable(SandboxError):
    """The SP's metadata is not something the suite can certify against (not XML, no entityID…)."""

    code = "sp_metadata_unusable"


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: str | None
    is_default: bool


@dataclass(frozen=True)
class Certificate:
    use: str | None
    der_base64: str

    def parsed(self) -> x509.Certificate | None:
        try:
            return x509.load_der_x509_certificate(base64.b64decode(self.der_base64))
        except (ValueError, binascii.Error):
            return None

    @property
    def pem(self) -> str:
        lines = [self.der_base64[i : i + 64] for i in range(0, len(self.der_base64), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"

    def validity(self, now: dt.datetime) -> str | None:
        """Why this certificate is unusable now (unparseable, expired, not yet valid), or None."""
        certificate = self.parsed()
        if certificate is None:
            return "cannot be read as an X.509 certificate"
        if certificate.not_valid_after_utc <= now:
            return f"expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
        if certificate.not_valid_before_utc > now:
            return f"is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}"
        return None


@dataclass
class SpMetadata:
    xml: bytes
    entity_id: str
    acs: list[Endpoint] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    authn_requests_signed: bool = False
    want_assertions_signed: bool = False

    @property
    def signing_certificates(self) -> list[Certificate]:
        return [c for c in self.certificates if c.use in (None, "signing")]

    @property
    def encryption_certificates(self) -> list[Certificate]:
        return [c for c in self.certificates if c.use in (None, "encryption")]

    @property
    def post_acs(self) -> list[Endpoint]:
        return [endpoint for endpoint in self.acs if endpoint.binding == POST_BINDING]


def parse_sp_metadata(xml: bytes, where: str) -> SpMetadata:
    """Read an SP's EntityDescriptor; :class:`MetadataUnusable` says plainly why it cannot be used."""
    try:
        root = parse(xml)
    except etree.XMLSyntaxError as exc:
        raise MetadataUnusable(f"The SP's metadata at {where} is not XML ({exc.msg}).") from exc
    if root.getroottree().docinfo.doctype:
        raise MetadataUnusable(f"The SP's metadata at {where} carries a DTD; metadata never needs one.")
    if root.tag != f"{{{MD}}}EntityDescriptor" or not root.get("entityID"):
        raise MetadataUnusable(
            f"The SP's metadata at {where} is not an md:EntityDescriptor with an entityID."
        )
    descriptor = root.find("md:SPSSODescriptor", NS)
    if descriptor is None:
        raise MetadataUnusable(f"The SP's metadata at {where} has no md:SPSSODescriptor.")
    acs = [
        Endpoint(e.get("Binding", ""), e.get("Location", ""), e.get("index"), e.get("isDefault") == "true")
        for e in descriptor.findall("md:AssertionConsumerService", NS)
    ]
    certificates = [
        Certificate(key.get("use"), "".join((cert.text or "").split()))
        for key in descriptor.findall("md:KeyDescriptor", NS)
        for cert in key.iterfind(".//ds:X509Certificate", NS)
    ]
    return SpMetadata(
        xml=xml,
        entity_id=root.get("entityID", ""),
        acs=acs,
        certificates=certificates,
        authn_requests_signed=descriptor.get("AuthnRequestsSigned") in ("true", "1"),
        want_assertions_signed=descriptor.get("WantAssertionsSigned") in ("true", "1"),
    )
