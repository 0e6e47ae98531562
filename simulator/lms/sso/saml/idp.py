"""Where the tenant's SAML identity provider is, and what its metadata says (SAML metadata 2.0 §2.4.3).

By default the IdP is the tenant's own AMS (``{ams_url}/t/{tenant}/saml/metadata``); the tenant setting
``sso.idp_metadata_url`` points the LMS at an external IdP instead. Metadata is fetched over HTTP
(:mod:`simulator.lms.sso.remote`), parsed without DTDs or entities, and reduced to an :class:`IdpDescriptor`.

Example::

    idp = identity_provider(config, "demo", settings.sso)
    idp.sso_url, idp.signing_certificates
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from simulator.config import SandboxConfig
from simulator.core.caching import BoundedCache
from simulator.core.settings import SsoSettings
from simulator.core.untrusted_xml import UnreadableXml, parse_untrusted
from simulator.lms.sso.remote import IdentityProviderUnavailable, fetch_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdpDescriptor:
    """What the SP needs to know about its IdP."""

    metadata_url: str
    entity_id: str
    sso_url: str
    slo_url: str | None
    signing_certificates: tuple[str, ...]
    wants_signed_requests: bool

    def onelogin_settings(self) -> dict[str, object]:
        """The ``idp`` section of a python3-saml settings document (every signing certificate)."""
        section: dict[str, object] = {
            "entityId": self.entity_id,
            "singleSignOnService": {
                "url": self.sso_url,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
            },
            "x509certMulti": {"signing": list(self.signing_certificates)},
        }
        if self.slo_url:
            section["singleLogoutService"] = {
                "url": self.slo_url,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
            }
        return section


def metadata_url(config: SandboxConfig, tenant_id: str, sso: SsoSettings) -> str:
    """The IdP metadata URL: the tenant's setting, else the sandbox's own AMS for the same tenant."""
    return sso.idp_metadata_url or f"{config.ams_url}/t/{tenant_id}/saml/metadata"


def _metadata_problem(xml: str, url: str) -> str:
    """Why python3-saml could not read the IdP metadata, in one sentence."""
    try:
        parse_untrusted(xml, f"The IdP metadata at {url}")
    except UnreadableXml as problem:
        return str(problem)
    return f"The IdP metadata at {url} is not SAML 2.0 IdP metadata."


def parse_idp_metadata(xml: str, url: str) -> IdpDescriptor:
    """Read entityID, the HTTP-Redirect SSO and SLO endpoints and the signing certificates."""
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    except Exception as exc:  # the parser raises XML, DTD and value errors of many kinds
        log.info("the IdP metadata at %s is not usable", url, exc_info=True)
        raise IdentityProviderUnavailable(_metadata_problem(xml, url)) from exc
    idp = parsed.get("idp", {})
    certificates = idp.get("x509certMulti", {}).get("signing") or (
        [idp["x509cert"]] if idp.get("x509cert") else []
    )
    entity_id = idp.get("entityId")
    sso_url = idp.get("singleSignOnService", {}).get("url")
    if not entity_id or not sso_url or not certificates:
        raise IdentityProviderUnavailable(
            f"The IdP metadata at {url} lacks an entityID, an HTTP-Redirect SingleSignOnService "
            "or a signing certificate."
        )
    return IdpDescriptor(
        metadata_url=url,
        entity_id=entity_id,
        sso_url=sso_url,
        slo_url=idp.get("singleLogoutService", {}).get("url"),
        signing_certificates=tuple(certificates),
        wants_signed_requests=bool(parsed.get("security", {}).get("authnRequestsSigned")),
    )


PARSED_CACHE_SIZE = 256
_parsed: BoundedCache[str, tuple[str, IdpDescriptor]] = BoundedCache(PARSED_CACHE_SIZE)


def identity_provider(config: SandboxConfig, tenant_id: str, sso: SsoSettings) -> IdpDescriptor:
    """The tenant's IdP, from its (cached) metadata.

    The document comes from :func:`fetch_text`'s cache (60 s); it is parsed again only when its text
    changed, so a rotation published by the IdP is seen as soon as the document is fetched again.
    """
    url = metadata_url(config, tenant_id, sso)
    text = fetch_text(url)
    cached = _parsed.get(url)
    if cached is not None and cached[0] == text:
        return cached[1]
    descriptor = parse_idp_metadata(text, url)
    _parsed.put(url, (text, descriptor))
    return descriptor
