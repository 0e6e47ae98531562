"""The SAML vocabulary of the broken SPs: names, errors, small records, time and text helpers, and the IdP
metadata they read (SAML metadata 2.0 §2.4.3). :mod:`conformance.broken.minisp` holds the protocol."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from lxml import etree

from simulator.core.errors import SandboxError

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS}
ASSERTION = f"{{{SAML}}}Assertion"
SIGNATURE = f"{{{DS}}}Signature"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIGNATURE_METHODS = {
    RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
}
DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_METHODS = {EXC_C14N, EXC_C14N + "WithComments"}
MAX_RESPONSE_BASE64 = 512 * 1024
REQUEST_LIFETIME = dt.timedelta(minutes=10)
ISSUE_WINDOW = dt.timedelta(seconds=300)
DEFAULT_RETURN_TO = "/whoami"
NAMED_FIELDS = {  # /whoami field: (FriendlyName, Name) as the sandbox IdP sends them (ams/idp/attributes.py)
    "member_id": ("member_id", "urn:ams-lms-sandbox:attribute:member_id"),
    "email": ("mail", "urn:oid:0.9.2342.19200300.100.1.3"),
    "given_name": ("givenName", "urn:oid:2.5.4.42"),
    "family_name": ("sn", "urn:oid:2.5.4.4"),
    "member_type": ("member_type", "urn:ams-lms-sandbox:attribute:member_type"),
    "member_status": ("member_status", "urn:ams-lms-sandbox:attribute:member_status"),
}
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")
_XS_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
TimeRule = Literal["issued", "not_before", "not_on_or_after"]
V = TypeVar("V")


class SignInRefused(SandboxError):
    """A SAML response this SP does not accept: nobody is signed in, the reason is shown (403)."""

    code = "saml_sign_in_refused"
    http_status = 403


class MalformedMessage(SignInRefused):
    """A SAMLResponse that is no SAML message at all: too large, not base64, not XML, or with a DTD (400)."""

    code = "saml_message_malformed"
    http_status = 400


@dataclass(frozen=True)
class PendingRequest:
    request_id: str
    return_to: str


@dataclass(frozen=True)
class LoginStart:
    request_id: str
    redirect_url: str


@dataclass(frozen=True)
class SignIn:
    """An accepted response: who signed in, and where the browser goes next."""

    identity: dict[str, Any]
    redirect_to: str


class ExpiringStore(Generic[V]):
    """Values that vanish at their expiry instant, shared by a server's threads."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[V, dt.datetime]] = {}
        self._lock = threading.Lock()

    def add(self, key: str, value: V, until: dt.datetime) -> bool:
        """Keep ``value`` under ``key`` until ``until``; False, changing nothing, if a live one is there."""
        with self._lock:
            now = self._clock()
            self._entries = {k: entry for k, entry in self._entries.items() if entry[1] > now}
            if key in self._entries:
                return False
            self._entries[key] = (value, until)
            return True

    def get(self, key: str, remove: bool = False) -> V | None:
        """The live value under ``key`` (taken out of the store when ``remove``), or None."""
        with self._lock:
            entry = self._entries.pop(key, None) if remove else self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > self._clock() else None


def instant(moment: dt.datetime) -> str:
    """SAML core 2.0 §1.3.3: an xs:dateTime in UTC."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str | None) -> dt.datetime | None:
    """An xs:dateTime (SAML core 2.0 §1.3.3; no zone means UTC), or None when it is not one."""
    if value is None or not _XS_DATETIME.fullmatch(value):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def whole_text(element: etree._Element) -> str:
    """All the text inside ``element``: comments and processing instructions drop out, their tails stay."""
    return "".join(element.itertext())


def is_local_path(value: str | None) -> bool:
    """A path on this site ("/x"), never "//host", "/\\host" or anything a browser could read as a host."""
    return bool(value and _LOCAL_PATH.fullmatch(value))


def safe_parse(data: bytes) -> etree._Element:
    """XML without entities, DTD or network; libxml2's depth limit stays on (huge_tree off).

    Raises ``etree.XMLSyntaxError`` for what is not XML and ``ValueError`` for a document with a DTD: a
    DTD has no place in a SAML message (SAML's schemas declare none), and it is where XXE and entity
    expansion bombs live.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
    )
    root = etree.fromstring(data, parser)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ValueError("XML with a DTD is not accepted")
    return root


@dataclass(frozen=True)
class IdpMetadata:
    """What this SP trusts of its IdP (SAML metadata 2.0 §2.4.3): entityID, SSO URL, signing certificates."""

    entity_id: str
    sso_redirect_url: str
    signing_certificates: tuple[str, ...]

    @classmethod
    def parse(cls, xml: str | bytes) -> IdpMetadata:
        """The first IDPSSODescriptor's HTTP-Redirect SingleSignOnService and signing KeyDescriptors."""
        try:
            root = safe_parse(xml.encode() if isinstance(xml, str) else xml)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise ValueError(f"The IdP metadata is not acceptable XML: {exc}") from exc
        descriptor = next(root.iter(f"{{{MD}}}IDPSSODescriptor"), None)
        entity = descriptor.getparent() if descriptor is not None else None
        if entity is None or not entity.get("entityID"):
            raise ValueError("The IdP metadata has no EntityDescriptor with an IDPSSODescriptor.")
        sso_redirect = [
            service.get("Location")
            for service in descriptor.iterfind("md:SingleSignOnService", NS)
            if service.get("Binding") == HTTP_REDIRECT and service.get("Location")
        ]
        certificates = tuple(
            "".join(whole_text(certificate).split())
            for key in descriptor.iterfind("md:KeyDescriptor", NS)
            if key.get("use") in (None, "signing")
            for certificate in key.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
        )
        if not sso_redirect or not certificates:
            raise ValueError("The IdP metadata needs an HTTP-Redirect SingleSignOnService and a signing key.")
        return cls(entity.get("entityID"), sso_redirect[0], certificates)
