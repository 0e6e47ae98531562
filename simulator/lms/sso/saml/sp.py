"""The SAML service provider of one tenant: its URLs, its metadata, and the AuthnRequests it sends.

The SP's entityID is its metadata URL, ``{lms_url}/t/{tenant}/saml/metadata``; responses arrive at the
Assertion Consumer Service ``{lms_url}/t/{tenant}/saml/acs`` (HTTP-POST binding). AuthnRequests go out
by HTTP-Redirect, signed with RSA-SHA256 by the tenant's SP key; each request id is stored with an expiry
so that only answers to requests we sent are accepted (SAML profiles §4.1.4.3).

Example::

    start = start_login(db, config, "demo", settings.sso, return_to="/t/demo/me")
    start.redirect_url   # the IdP's SSO endpoint with SAMLRequest, RelayState, SigAlg, Signature
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import xmlsec
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from sqlalchemy import insert

from simulator.config import SandboxConfig
from simulator.core.caching import BoundedCache
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.prepared import Prepared
from simulator.core.settings import SsoSettings
from simulator.lms.sso.keys import KeyMaterial, service_provider_key, xmlsec_signing_key
from simulator.lms.sso.models import PendingAuthnRequest
from simulator.lms.sso.saml.idp import IdpDescriptor, identity_provider

REQUEST_LIFETIME = dt.timedelta(minutes=10)
_REMEMBER_REQUEST = Prepared(insert(PendingAuthnRequest))


@dataclass(frozen=True)
class SpUrls:
    """The absolute URLs that identify the tenant's SP."""

    entity_id: str
    acs: str
    logout: str

    @classmethod
    def for_tenant(cls, config: SandboxConfig, tenant_id: str) -> SpUrls:
        base = f"{config.lms_url}/t/{tenant_id}"
        return cls(entity_id=f"{base}/saml/metadata", acs=f"{base}/saml/acs", logout=f"{base}/logout")


def request_data_for(url: str) -> dict[str, Any]:
    """python3-saml's view of "the current request" when it is ``url`` (our ACS, never the Host header)."""
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }


def security_settings(for_metadata: bool) -> dict[str, Any]:
    """python3-saml's ``security`` section: signed requests, SHA-256 only, deprecated algorithms rejected.

    The metadata asks for signed assertions; validation accepts a signature on the response *or* on the
    assertion (SAML profiles §4.1.3.5), and :mod:`.validation` refuses a response with neither.
    """
    return {
        "authnRequestsSigned": True,
        "logoutRequestSigned": True,
        "wantAssertionsSigned": for_metadata,
        "wantMessagesSigned": False,
        "wantNameId": True,
        "wantAttributeStatement": False,
        "requestedAuthnContext": False,
        "signatureAlgorithm": Saml.RSA_SHA256,
        "digestAlgorithm": Saml.SHA256,
        "rejectDeprecatedAlgorithm": True,
    }


SETTINGS_CACHE_SIZE = 256
_settings_cache: BoundedCache[tuple[Any, ...], OneLogin_Saml2_Settings] = BoundedCache(SETTINGS_CACHE_SIZE)


def onelogin_settings(
    db: Database, config: SandboxConfig, tenant_id: str, idp: IdpDescriptor | None
) -> OneLogin_Saml2_Settings:
    """A strict python3-saml settings object for the tenant's SP (and its IdP, when known).

    Building one checks and loads every certificate (milliseconds), so it is cached per tenant, LMS
    URL, SP key and IdP descriptor: a new SP key or a changed IdP metadata document (new certificates
    after a rotation, new endpoints) gives a new cache key. python3-saml only reads the object.
    """
    key = service_provider_key(db, tenant_id)
    cache_key = (tenant_id, config.lms_url, key.certificate_pem, idp)
    cached = _settings_cache.get(cache_key)
    if cached is not None:
        return cached
    settings = _build_onelogin_settings(config, tenant_id, key, idp)
    _settings_cache.put(cache_key, settings)
    return settings


def _build_onelogin_settings(
    config: SandboxConfig, tenant_id: str, key: KeyMaterial, idp: IdpDescriptor | None
) -> OneLogin_Saml2_Settings:
    urls = SpUrls.for_tenant(config, tenant_id)
    document: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": urls.entity_id,
            "assertionConsumerService": {"url": urls.acs, "binding": Saml.BINDING_HTTP_POST},
            "singleLogoutService": {"url": urls.logout, "binding": Saml.BINDING_HTTP_REDIRECT},
            "NameIDFormat": Saml.NAMEID_UNSPECIFIED,
            "x509cert": key.certificate_base64,
            "privateKey": key.private_key_pem,
        },
        "security": security_settings(for_metadata=idp is None),
    }
    if idp is not None:
        document["idp"] = idp.onelogin_settings()
    return OneLogin_Saml2_Settings(document, sp_validation_only=idp is None)


def service_provider_metadata(db: Database, config: SandboxConfig, tenant_id: str) -> str:
    """The SP's metadata (SAML metadata 2.0 §2.4.4): entityID, ACS, SLO, signing/encryption certificate.

    It says ``AuthnRequestsSigned="true"`` and ``WantAssertionsSigned="true"``; the one certificate is
    published for signing and for encryption (an IdP may encrypt assertions to it).
    """
    settings = onelogin_settings(db, config, tenant_id, idp=None)
    metadata = OneLogin_Saml2_Metadata.builder(
        settings.get_sp_data(), authnsign=True, wsign=True, valid_until=None, cache_duration=None
    )
    metadata = OneLogin_Saml2_Metadata.add_x509_key_descriptors(
        metadata, settings.get_sp_cert(), add_encryption=True
    )
    return metadata.decode() if isinstance(metadata, bytes) else metadata


class _Auth(OneLogin_Saml2_Auth):
    """python3-saml's ``Auth``, signing HTTP-Redirect messages with the SP key parsed once.

    python3-saml parses the PEM key for every signature, and a freshly parsed key costs OpenSSL about
    0.45 ms of set-up on its first signature (see :func:`xmlsec_signing_key`). The signature is the same
    bytes either way: RSA PKCS#1 v1.5 signing is deterministic.
    """

    def _build_signature(
        self, data: dict[str, Any], saml_type: str, sign_algorithm: str = Saml.RSA_SHA256
    ) -> None:
        if sign_algorithm != Saml.RSA_SHA256:  # never asked for (see security_settings)
            super()._build_signature(data, saml_type, sign_algorithm)
            return
        message = self._build_sign_query(data[saml_type], data.get("RelayState"), sign_algorithm, saml_type)
        context = xmlsec.SignatureContext()
        context.key = xmlsec_signing_key(self.get_settings().get_sp_key())
        signature = context.sign_binary(message.encode(), xmlsec.constants.TransformRsaSha256)
        data["Signature"] = OneLogin_Saml2_Utils.b64encode(signature)
        data["SigAlg"] = sign_algorithm


@dataclass(frozen=True)
class LoginStart:
    request_id: str
    redirect_url: str


def start_login(
    db: Database, config: SandboxConfig, tenant_id: str, sso: SsoSettings, return_to: str
) -> LoginStart:
    """Build a signed AuthnRequest for the tenant's IdP and remember its id until it expires."""
    idp = identity_provider(config, tenant_id, sso)
    settings = onelogin_settings(db, config, tenant_id, idp)
    urls = SpUrls.for_tenant(config, tenant_id)
    auth = _Auth(request_data_for(urls.acs), settings)
    redirect_url = auth.login(return_to=return_to)
    request_id = auth.get_last_request_id()
    now = wall_now()
    with db.prepared_transaction() as transaction:
        transaction.run(
            _REMEMBER_REQUEST,
            {
                "tenant_id": tenant_id,
                "request_id": request_id,
                "relay_state": return_to,
                "expires_at": now + REQUEST_LIFETIME,
            },
        )
    return LoginStart(request_id=request_id, redirect_url=redirect_url)


def logout_url(
    db: Database,
    config: SandboxConfig,
    tenant_id: str,
    sso: SsoSettings,
    name_id: str | None,
    session_index: str | None,
    return_to: str,
) -> str | None:
    """A signed LogoutRequest to the IdP's SLO endpoint (SAML profiles §4.4), or None when it has none."""
    idp = identity_provider(config, tenant_id, sso)
    if not idp.slo_url or not name_id:
        return None
    settings = onelogin_settings(db, config, tenant_id, idp)
    auth = _Auth(request_data_for(SpUrls.for_tenant(config, tenant_id).logout), settings)
    return auth.logout(return_to=return_to, name_id=name_id, session_index=session_index)
