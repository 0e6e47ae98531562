"""The SAML 2.0 identity provider of a tenant: AuthnRequests in, signed Responses out (pysaml2).

One pysaml2 ``Server`` per tenant state (registered SPs, active key, attribute names) is cached in
process; signing runs through :class:`XmlsecBackend` with RSA-SHA256 and SHA-256 digests only.

Example::

    idp = tenant_idp(db, "demo", "http://127.0.0.1:8001", settings.sso)
    request = idp.parse_authn_request(saml_request, BINDING_REDIRECT)
    response_b64 = idp.authn_response(request, attributes, member_id, email)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.assertion import Policy
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.s_utils import factory
from saml2.saml import NAME_FORMAT_URI, NameID
from saml2.server import Server
from saml2.sigver import security_context
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from sqlalchemy import bindparam, select

from simulator.ams.idp import keys
from simulator.ams.idp.attributes import saml_name
from simulator.ams.idp.models import SamlServiceProvider
from simulator.ams.idp.registry import list_service_providers
from simulator.ams.idp.saml.metadata import BINDING_POST, NAMEID_EMAIL, NAMEID_PERSISTENT, parse_sp_metadata
from simulator.ams.idp.saml.request_signatures import verify_post_signature, verify_redirect_signature
from simulator.ams.idp.saml.xmlsec_backend import (
    DSIG_NS,
    SAML_NS,
    XmlsecBackend,
    encrypt_assertion_in_place,
    key_reference,
    safe_parse,
    sign_enveloped,
)
from simulator.core.db import Database
from simulator.core.errors import SandboxError
from simulator.core.prepared import Prepared
from simulator.core.request_limits import SAML_MESSAGE_BYTES, saml_message_too_large
from simulator.core.settings import SsoSettings
from simulator.core.untrusted_xml import (
    UnreadableXml,
    inflate_redirect_message,
    parse_untrusted,
    saml_message_problem,
)

log = logging.getLogger(__name__)

AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
SERVER_CACHE_SIZE = 64
ACCEPTED_REQUESTS_KEPT = 1024
"""Accepted AuthnRequests an IdP remembers (see :meth:`TenantIdp.parse_authn_request`)."""


class SamlRequestRefused(SandboxError):
    """An AuthnRequest we will not answer with a redirect or POST (shown as a plain error page)."""

    code = "saml_request_refused"
    http_status = 400


@dataclass(frozen=True)
class IdpUrls:
    entity_id: str
    sso: str
    slo: str
    idp_initiated: str


def idp_urls(ams_url: str, tenant_id: str) -> IdpUrls:
    """The IdP's entityID is its metadata URL (SAML metadata 2.0 §4.1, well-known location)."""
    base = f"{ams_url}/t/{tenant_id}/saml"
    return IdpUrls(f"{base}/metadata", f"{base}/sso", f"{base}/slo", f"{base}/idp-initiated")


@dataclass(frozen=True)
class AuthnRequestInfo:
    """What the IdP answers to: which SP, its request id, and the ACS URL the response goes to."""

    sp_entity_id: str
    request_id: str | None
    acs_url: str
    name_id_format: str


class ReleaseEverythingPolicy(Policy):
    """Release rules are applied by :mod:`simulator.ams.idp.attributes` before pysaml2 sees the values.

    pysaml2 takes it as ``release_policy`` (a ``policy`` argument is silently replaced); without one it
    builds a default policy for every response, which loads all of pysaml2's attribute maps each time.
    """

    def restrict(self, ava: dict[str, Any], sp_entity_id: str, metadata: Any = None) -> dict[str, Any]:
        return ava


class WireNames(AttributeConverter):
    """Put canonical attributes on the wire under the tenant's URI names with FriendlyNames."""

    def __init__(self, sso: SsoSettings) -> None:
        super().__init__(NAME_FORMAT_URI)
        self.sso = sso

    def to_(self, attrvals: dict[str, list[str]]) -> list[saml.Attribute]:
        attributes = []
        for canonical, values in attrvals.items():
            name, friendly = saml_name(canonical, self.sso)
            attributes.append(
                factory(
                    saml.Attribute,
                    name=name,
                    name_format=NAME_FORMAT_URI,
                    friendly_name=friendly,
                    attribute_value=[factory(saml.AttributeValue, text=value) for value in values],
                )
            )
        return attributes


class TenantIdp:
    """A tenant's IdP: its pysaml2 server plus its registered SPs."""

    def __init__(self, server: Server, urls: IdpUrls, sps: dict[str, SamlServiceProvider], kid: str) -> None:
        self.server = server
        self.urls = urls
        self.sps = sps
        self.kid = kid
        self.sp_metadata = {entity_id: parse_sp_metadata(sp.metadata_xml) for entity_id, sp in sps.items()}
        self.release_policy = ReleaseEverythingPolicy()
        self._accepted: OrderedDict[bytes, AuthnRequestInfo] = OrderedDict()
        self._accepted_lock = threading.Lock()

    def parse_authn_request(
        self, saml_request: str, binding: str, query_string: bytes = b""
    ) -> AuthnRequestInfo:
        """Decode and check an AuthnRequest (SAML core 2.0 §3.4.1); refuse unknown SPs and ACS URLs.

        SAML core 2.0 §3.4.1: the ACS URL, when given, MUST be one the SP's metadata lists — otherwise
        responding to it would make the IdP an open redirector. An SP whose metadata says
        ``AuthnRequestsSigned="true"`` MUST sign: its request is verified against the metadata's signing
        certificates (:mod:`.request_signatures`; ``query_string`` is the raw query of a Redirect-binding
        request) and refused when unsigned or badly signed.

        The outcome depends only on the message (with the query, for Redirect) and on this IdP's state —
        its SPs, key and settings, which a new :class:`TenantIdp` stands for when they change — so an
        accepted request is remembered (:data:`ACCEPTED_REQUESTS_KEPT` of them, newest): the same request
        coming back after the login form is not decoded and verified a second time. Refusals are not
        remembered.
        """
        signed_query = query_string if binding == BINDING_HTTP_REDIRECT else b""
        key = hashlib.sha256(b"\0".join((binding.encode(), saml_request.encode(), signed_query))).digest()
        accepted = self._accepted.get(key)
        if accepted is None:
            accepted = self._checked_authn_request(saml_request, binding, query_string)
            with self._accepted_lock:
                self._accepted[key] = accepted
                while len(self._accepted) > ACCEPTED_REQUESTS_KEPT:
                    self._accepted.popitem(last=False)
        return accepted

    def _checked_authn_request(
        self, saml_request: str, binding: str, query_string: bytes
    ) -> AuthnRequestInfo:
        refuse_oversized(saml_request, binding)
        if binding == BINDING_HTTP_POST:
            saml_request = self._verified_post_request(saml_request)
        try:
            request = self.server.parse_authn_request(saml_request, binding)
        except Exception as exc:
            raise _unreadable(saml_request, binding, "AuthnRequest") from exc
        if request is None or request.message is None:
            raise SamlRequestRefused("The SAML AuthnRequest could not be read.")
        message = request.message
        issuer, sp = self._registered_issuer(message)
        if binding == BINDING_HTTP_REDIRECT and self.sp_metadata[issuer].authn_requests_signed:
            verify_redirect_signature(query_string, self.sp_metadata[issuer].signing_certificates)
        acs_url = resolve_acs(
            sp, message.assertion_consumer_service_url, message.assertion_consumer_service_index
        )
        policy = message.name_id_policy
        name_id_format = (
            NAMEID_EMAIL if policy is not None and policy.format == NAMEID_EMAIL else NAMEID_PERSISTENT
        )
        return AuthnRequestInfo(issuer, message.id, acs_url, name_id_format)

    def _registered_issuer(self, message: Any) -> tuple[str, SamlServiceProvider]:
        """The request's Issuer and its registration; an unregistered SP is refused (403, no redirect)."""
        issuer = message.issuer.text.strip() if message.issuer is not None and message.issuer.text else ""
        sp = self.sps.get(issuer)
        if sp is None:
            raise SamlRequestRefused(
                f"The service provider '{issuer}' is not registered with this identity provider.",
                code="unknown_service_provider",
                http_status=403,
            )
        return issuer, sp

    def _verified_post_request(self, saml_request: str) -> str:
        """An HTTP-POST AuthnRequest of a signing SP with its enveloped signature verified, then removed.

        The signature is checked here, strictly (RSA-SHA256, the root element, the SP's metadata
        certificates); pysaml2 then only reads the request.
        """
        try:
            xml = base64.b64decode(saml_request, validate=False)
            root = parse_untrusted(xml, "The SAMLRequest")
        except ValueError as exc:  # not base64, or UnreadableXml
            raise _unreadable(saml_request, BINDING_HTTP_POST, "AuthnRequest") from exc
        issuer = root.findtext(f"{{{SAML_NS}}}Issuer", default="").strip()
        metadata = self.sp_metadata.get(issuer)
        if metadata is None or not metadata.authn_requests_signed:
            return saml_request
        verify_post_signature(xml, metadata.signing_certificates)
        root.remove(root.find(f"{{{DSIG_NS}}}Signature"))
        return base64.b64encode(etree.tostring(root)).decode()

    def unsolicited(self, sp_entity_id: str) -> AuthnRequestInfo:
        """IdP-initiated login (SAML profiles 2.0 §4.1.5): to the SP's default ACS, no InResponseTo."""
        sp = self.sps.get(sp_entity_id)
        if sp is None:
            raise SamlRequestRefused(
                f"The service provider '{sp_entity_id}' is not registered with this identity provider.",
                code="unknown_service_provider",
                http_status=403,
            )
        return AuthnRequestInfo(sp_entity_id, None, resolve_acs(sp, None, None), NAMEID_PERSISTENT)

    def authn_response(
        self, request: AuthnRequestInfo, attributes: dict[str, str], member_id: str, email: str, lifetime: int
    ) -> str:
        """A signed (and maybe encrypted) Response for ``request``, base64-encoded for the POST binding.

        SAML core 2.0 §2.5 / profiles §4.1.4.2: Destination and Recipient are the ACS URL, Audience the
        SP's entityID, InResponseTo the request id; the assertion has a fresh ID and an AuthnStatement.
        """
        sp = self.sps[request.sp_entity_id]
        identity = {name: [value] for name, value in attributes.items()}
        root = self.response_tree(request, identity, member_id, email, lifetime)
        self.seal(root, sp.sign, self.encryption_pem(sp) if sp.encrypt_assertion else None)
        return base64.b64encode(etree.tostring(root, encoding="UTF-8", xml_declaration=False)).decode()

    @staticmethod
    def encryption_pem(sp: SamlServiceProvider) -> str | None:
        """The SP's first metadata encryption certificate as PEM (None when it publishes none)."""
        return _pem(sp.encryption_certificates[0]) if sp.encryption_certificates else None

    def response_tree(
        self,
        request: AuthnRequestInfo,
        identity: dict[str, list[str]],
        member_id: str,
        email: str,
        lifetime: int,
    ) -> etree._Element:
        """The unsigned Response for ``request`` as a parsed tree (see :meth:`authn_response`);
        ``identity`` holds the released attribute values by canonical name, and the assertion is valid
        for ``lifetime`` seconds after its IssueInstant (:func:`expire_assertion`)."""
        sp = self.sps[request.sp_entity_id]
        name_id = NameID(
            format=request.name_id_format,
            text=email if request.name_id_format == NAMEID_EMAIL else member_id,
            name_qualifier=self.urls.entity_id,
            sp_name_qualifier=sp.entity_id,
        )
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=request.request_id,
            destination=request.acs_url,
            sp_entity_id=sp.entity_id,
            name_id=name_id,
            authn={"class_ref": AUTHN_CONTEXT},
            sign_response=False,
            sign_assertion=False,
            encrypt_assertion=False,
            release_policy=self.release_policy,
        )
        root = safe_parse(str(response).encode())
        expire_assertion(root, lifetime)
        return root

    def seal(
        self,
        root: etree._Element,
        sign: str,
        encrypt_to: str | None,
        signature_method: str = "rsa-sha256",
        digest_method: str = "sha256",
    ) -> None:
        """Sign ``root`` in place as ``sign`` says (assertion, response, both or none), encrypting the
        assertion to the certificate ``encrypt_to`` (PEM) when given.

        Signed on one parsed tree: pysaml2 would serialise, parse and serialise the whole response again
        for each signature. The assertion is signed first, then encrypted, then the response is signed,
        so the response signature covers the EncryptedAssertion (SAML core 2.0 §6.2).
        """
        key = key_reference(self.kid)
        assertion = root.find(f"{{{SAML_NS}}}Assertion")
        if sign in ("assertion", "both") and assertion is not None:
            sign_enveloped(root, assertion, key, signature_method, digest_method)
        if encrypt_to is not None and assertion is not None:
            encrypt_assertion_in_place(root, encrypt_to.encode())
        if sign in ("response", "both"):
            sign_enveloped(root, root, key, signature_method, digest_method)

    def logout_response(
        self, saml_request: str, binding: str, relay_state: str | None
    ) -> tuple[str | None, dict[str, str]]:
        """Answer a LogoutRequest (SAML core 2.0 §3.7) with a signed LogoutResponse.

        Returns the SP's registered HTTP-POST SingleLogoutService URL and the form fields, or
        ``(None, {})`` when the SP registered none (the browser then stays on our "signed out" page).
        """
        refuse_oversized(saml_request, binding)
        try:
            request = self.server.parse_logout_request(saml_request, binding)
        except Exception as exc:
            raise _unreadable(saml_request, binding, "LogoutRequest") from exc
        message = request.message
        _, sp = self._registered_issuer(message)
        if not any(endpoint["binding"] == BINDING_POST for endpoint in sp.slo):
            return None, {}
        response = self.server.create_logout_response(
            message, [BINDING_HTTP_POST], sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
        )
        xml = str(response)
        destination = safe_parse(xml.encode()).get("Destination")
        fields = {"SAMLResponse": base64.b64encode(xml.encode()).decode()}
        if relay_state:
            fields["RelayState"] = relay_state
        return destination, fields


def refuse_oversized(saml_request: str, binding: str) -> None:
    """Refuse a SAMLRequest larger than a SAML message may be, sent or inflated, before pysaml2 reads it.

    pysaml2 inflates an HTTP-Redirect message whole: a DEFLATE bomb (a few kilobytes in the URL that
    inflate to gigabytes) is refused here, inflated no further than the limit.
    """
    if len(saml_request) > SAML_MESSAGE_BYTES:
        raise SamlRequestRefused(saml_message_too_large("SAMLRequest"))
    if binding == BINDING_HTTP_REDIRECT:
        try:
            inflate_redirect_message(saml_request, "SAMLRequest")
        except UnreadableXml as exc:
            raise SamlRequestRefused(str(exc)) from exc


def _unreadable(saml_request: str, binding: str, message: str) -> SamlRequestRefused:
    """The refusal of a SAMLRequest that could not be read, saying why (the library's reason is logged)."""
    log.info("a SAML %s could not be read", message, exc_info=True)
    deflated = binding == BINDING_HTTP_REDIRECT
    return SamlRequestRefused(saml_message_problem(saml_request, "SAMLRequest", deflated, message))


BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


def expire_assertion(root: etree._Element, lifetime: int) -> None:
    """Make the assertion in ``root`` expire ``lifetime`` seconds after its IssueInstant.

    SAML core 2.0 §2.5.1.2 (Conditions NotOnOrAfter) and profiles 2.0 §4.1.4.2 (the bearer
    SubjectConfirmationData MUST carry NotOnOrAfter). pysaml2 takes these times from its release
    policy — an hour unless configured — and not from an argument, so they are set here, on the wall
    clock the IssueInstant was read from.
    """
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    if assertion is None:
        return
    issued = dt.datetime.fromisoformat(assertion.get("IssueInstant", "")).astimezone(dt.UTC)
    not_on_or_after = (issued + dt.timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for conditions in assertion.findall(f"{{{SAML_NS}}}Conditions"):
        conditions.set("NotOnOrAfter", not_on_or_after)
    for confirmation in assertion.findall(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}SubjectConfirmation"):
        if confirmation.get("Method") == BEARER:
            for data in confirmation.findall(f"{{{SAML_NS}}}SubjectConfirmationData"):
                data.set("NotOnOrAfter", not_on_or_after)


def _pem(certificate_base64: str) -> str:
    """A metadata certificate (base64 DER) as PEM."""
    lines = [certificate_base64[i : i + 64] for i in range(0, len(certificate_base64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def resolve_acs(sp: SamlServiceProvider, url: str | None, index: str | int | None) -> str:
    """The ACS URL a response goes to: the requested one only when registered, else the default POST one."""
    post_endpoints = [acs for acs in sp.acs if acs["binding"] == BINDING_POST]
    if url is not None:
        if any(acs["location"] == url for acs in post_endpoints):
            return url
        raise SamlRequestRefused(
            "The AssertionConsumerServiceURL in the request is not one this service provider registered.",
            code="unregistered_acs_url",
            http_status=403,
        )
    if index is not None:
        for acs in post_endpoints:
            if str(acs["index"]) == str(index):
                return acs["location"]
        raise SamlRequestRefused(
            "The AssertionConsumerServiceIndex in the request is not one this service provider registered.",
            code="unregistered_acs_url",
            http_status=403,
        )
    defaults = [acs for acs in post_endpoints if acs["is_default"]] or sorted(
        post_endpoints, key=lambda a: a["index"]
    )
    return defaults[0]["location"]


_servers: OrderedDict[str, TenantIdp] = OrderedDict()
_servers_lock = threading.Lock()


def _fingerprint(
    tenant_id: str, ams_url: str, kid: str, sp_versions: list[tuple[int, str, Any]], sso: SsoSettings
) -> str:
    """What a cached server depends on: the IdP URLs, the signing key, every SP's version, the settings.

    Registering an SP again stamps a new ``updated_at``, deleting one drops its row, and a rotation
    changes the active ``kid``: each gives a new fingerprint, so the next request builds a new server.
    """
    parts = [tenant_id, ams_url, kid, sso.model_dump_json()] + [
        f"{pk}:{entity_id}@{updated_at.isoformat()}" for pk, entity_id, updated_at in sp_versions
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _build_server(
    urls: IdpUrls, sps: list[SamlServiceProvider], key: keys.ParsedKey, sso: SsoSettings
) -> Server:
    config = IdPConfig()
    config.load(
        {
            "entityid": urls.entity_id,
            "crypto_backend": "XMLSecurity",
            "allow_unknown_attributes": True,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (urls.sso, BINDING_HTTP_REDIRECT),
                            (urls.sso, BINDING_HTTP_POST),
                        ],
                        "single_logout_service": [
                            (urls.slo, BINDING_HTTP_REDIRECT),
                            (urls.slo, BINDING_HTTP_POST),
                        ],
                    },
                    "name_id_format": [NAMEID_PERSISTENT, NAMEID_EMAIL],
                    "sign_alg": SIG_RSA_SHA256,
                    "digest_alg": DIGEST_SHA256,
                    "want_authn_requests_signed": False,
                    "policy": {"default": {"name_form": NAME_FORMAT_URI}},
                }
            },
            "metadata": {"inline": [sp.metadata_xml for sp in sps]},
        }
    )
    config.attribute_converters = [WireNames(sso)]
    server = Server(config=config)
    server.sec = security_context(config)
    server.sec.crypto = XmlsecBackend()
    server.sec.key_file = key_reference(key.kid)
    server.sec.my_cert = key.certificate_base64
    return server


_SP_VERSIONS = Prepared(
    select(SamlServiceProvider.pk, SamlServiceProvider.entity_id, SamlServiceProvider.updated_at)
    .where(SamlServiceProvider.tenant_id == bindparam("tenant_id"))
    .order_by(SamlServiceProvider.pk)
)


def tenant_idp(db: Database, tenant_id: str, ams_url: str, sso: SsoSettings) -> TenantIdp:
    """The tenant's IdP as it stands now (rebuilt when its SPs, key or attribute names change).

    Each call reads the active key and the SPs' versions — not their metadata — and
    answers from the in-process cache when nothing changed; pysaml2's config and metadata parsing
    (tens of milliseconds) happen only when something did.
    """
    key = keys.ensure_active_key(db, tenant_id)
    versions = [tuple(row) for row in db.all(_SP_VERSIONS, {"tenant_id": tenant_id})]
    fingerprint = _fingerprint(tenant_id, ams_url, key.kid, versions, sso)
    cached = _servers.get(fingerprint)
    if cached is not None:
        return cached
    with db.read() as session:
        sps = list_service_providers(session, tenant_id)
    urls = idp_urls(ams_url, tenant_id)
    idp = TenantIdp(_build_server(urls, sps, key, sso), urls, {sp.entity_id: sp for sp in sps}, key.kid)
    with _servers_lock:
        _servers[_fingerprint(tenant_id, ams_url, key.kid, _versions(sps), sso)] = idp
        while len(_servers) > SERVER_CACHE_SIZE:
            _servers.popitem(last=False)
    return idp


def _versions(sps: list[SamlServiceProvider]) -> list[tuple[int, str, Any]]:
    return [(sp.pk, sp.entity_id, sp.updated_at) for sp in sps]
