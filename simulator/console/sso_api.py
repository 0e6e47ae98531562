"""Control API for single sign-on: signing keys, SAML service providers and OIDC clients.

``/api/tenants/{t}/keys…``, ``/api/tenants/{t}/saml/service-providers…``, ``/api/tenants/{t}/oidc/clients…``
(views only translate HTTP; private keys and client secrets are never returned, except a new client's
secret, once).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.ams.idp import keys, registry
from simulator.ams.idp.oidc import clients
from simulator.ams.idp.saml.metadata import invalid_metadata
from simulator.ams.idp.saml.minting import MintRequest, mint_response
from simulator.core.errors import SandboxError, ValidationFailed, validation_failed_from_pydantic
from simulator.core.tenancy import get_tenant, tenant_settings
from simulator.core.web import (
    Problem,
    TenantPath,
    app_state,
    authorized_tenant_id,
    created,
    database,
    no_content,
    validated_body,
)

keys_tag = Tag(name="sso keys", description="Each tenant's IdP signing keys and their rotation")
saml_tag = Tag(name="saml service providers", description="SAML SPs allowed to sign in through the AMS")
minting_tag = Tag(
    name="saml minting",
    description="Signed SAML Responses made to order (valid or deliberately wrong) for testing an SP",
)
oidc_tag = Tag(name="oidc clients", description="OpenID Connect relying parties of the AMS")

sso_api = APIBlueprint(
    "sso",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
)


class KeyOut(BaseModel):
    kid: str
    state: Literal["active", "previous", "retired"]
    certificate_pem: str
    created_at: str
    retired_at: str | None


class KeyList(BaseModel):
    keys: list[KeyOut]


class ServiceProviderCreate(BaseModel):
    """An SP by its metadata (inline XML or a URL to fetch it from), plus how to answer it."""

    model_config = ConfigDict(extra="forbid")

    metadata_xml: str | None = Field(None, max_length=1_000_000, description="The SP's EntityDescriptor.")
    metadata_url: str | None = Field(None, pattern=r"^https?://", max_length=2000)
    sign: Literal["assertion", "response", "both"] = Field("both", description="What our responses sign.")
    encrypt_assertion: bool = Field(False, description="Encrypt to the SP's metadata encryption key.")
    attributes: list[str] | None = Field(
        None, description="Canonical attribute names released to this SP (default: all)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServiceProviderCreate:
        if (self.metadata_xml is None) == (self.metadata_url is None):
            raise ValueError("give exactly one of 'metadata_xml' and 'metadata_url'")
        return self


class ServiceProviderOut(BaseModel):
    id: int
    entity_id: str
    acs: list[dict[str, Any]]
    slo: list[dict[str, Any]]
    sign: str
    encrypt_assertion: bool
    has_encryption_certificate: bool
    attributes: list[str] | None
    created_at: str
    updated_at: str


class ServiceProviderList(BaseModel):
    service_providers: list[ServiceProviderOut]


class MintedResponse(BaseModel):
    saml_response: str = Field(..., description="The Response, base64: the HTTP-POST binding's SAMLResponse.")
    xml: str = Field(..., description="The same Response as XML text.")
    acs_url: str = Field(..., description="Where to post it (form fields SAMLResponse and RelayState).")
    sp: str
    member_id: str
    response_id: str
    assertion_id: str | None
    in_response_to: str | None
    sign: Literal["assertion", "response", "both", "none"]
    encrypted: bool


class ServiceProviderPath(TenantPath):
    sp_id: int = Field(..., ge=1, le=2**63 - 1, description="Id of the registered service provider.")


class ClientPath(TenantPath):
    client_id: str = Field(..., max_length=100)


@sso_api.get("/tenants/<tenant>/keys", tags=[keys_tag], responses={200: KeyList})
def list_keys(path: TenantPath) -> dict[str, Any]:
    """The tenant's signing keys (certificates only; private keys never leave the sandbox)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        keys.create_initial_key(session, tenant_id)
        return {"keys": keys.list_keys(session, tenant_id)}


@sso_api.post("/tenants/<tenant>/keys/rotate", tags=[keys_tag], responses={200: KeyList, 409: Problem})
def rotate_keys(path: TenantPath) -> dict[str, Any]:
    """Start a rotation: a new key signs from now on; the old one stays published until retired."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        keys.create_initial_key(session, tenant_id)
        return {"keys": keys.rotate_keys(session, tenant_id)}


@sso_api.post("/tenants/<tenant>/keys/retire-previous", tags=[keys_tag], responses={200: KeyList})
def retire_previous_key(path: TenantPath) -> dict[str, Any]:
    """Finish a rotation: stop publishing the previous key in SAML metadata and the JWKS."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        return {"keys": keys.retire_previous_key(session, tenant_id)}


METADATA_MEDIA_TYPES = ("application/samlmetadata+xml", "application/xml", "text/xml")
"""Content types of a body that is the SP's metadata document itself (the first is SAML metadata's own)."""
BODY_MEDIA_TYPES = (
    "Send the SP's metadata document (Content-Type: application/samlmetadata+xml) or a JSON object "
    "(Content-Type: application/json)."
)


def _service_provider_body() -> ServiceProviderCreate:
    """The JSON body, or a metadata document sent as it is, with every option at its default."""
    if request.mimetype not in METADATA_MEDIA_TYPES:
        if request.is_json or not request.get_data():
            return validated_body(ServiceProviderCreate)
        raise SandboxError(BODY_MEDIA_TYPES, code="unsupported_media_type", http_status=415)
    if request.args:
        raise ValidationFailed(
            "A metadata document is registered with the default options; to set "
            f"{', '.join(sorted(request.args))}, send a JSON object (Content-Type: application/json).",
            code="options_need_json",
        )
    try:
        document = request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid_metadata("The metadata is not UTF-8 text.") from exc
    if not document.strip():
        raise invalid_metadata(f"The request body is empty. {BODY_MEDIA_TYPES}")
    try:
        return ServiceProviderCreate(metadata_xml=document)
    except ValidationError as exc:
        raise validation_failed_from_pydantic(exc) from exc


@sso_api.post(
    "/tenants/<tenant>/saml/service-providers",
    tags=[saml_tag],
    responses={201: ServiceProviderOut, 415: Problem, 422: Problem},
    openapi_extensions={
        "requestBody": {
            "description": "A JSON object, or the SP's metadata document itself: then `sign`, "
            "`encrypt_assertion` and `attributes` take their defaults (send JSON to set them).",
            "required": True,
            "content": {
                "application/json": {"schema": ServiceProviderCreate.model_json_schema()},
                **{media_type: {"schema": {"type": "string"}} for media_type in METADATA_MEDIA_TYPES},
            },
        }
    },
)
def register_service_provider(path: TenantPath) -> Any:
    """Register an SP (or replace the one with the same entityID) from its metadata.

    `curl --data-binary @metadata.xml -H 'Content-Type: application/samlmetadata+xml'` registers the
    document as it is, with the defaults; a JSON body sets the options too.
    """
    tenant_id = authorized_tenant_id(path.tenant)
    body = _service_provider_body()
    metadata_xml = body.metadata_xml if body.metadata_xml is not None else ""
    if body.metadata_url is not None:
        metadata_xml = registry.fetch_metadata(body.metadata_url)
    with database().session() as session:
        sp = registry.register_service_provider(
            session, tenant_id, metadata_xml, body.sign, body.encrypt_assertion, body.attributes
        )
    return created(sp, f"/api/tenants/{tenant_id}/saml/service-providers/{sp['id']}")


@sso_api.get(
    "/tenants/<tenant>/saml/service-providers", tags=[saml_tag], responses={200: ServiceProviderList}
)
def list_service_providers(path: TenantPath) -> dict[str, Any]:
    """The tenant's registered SPs."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        sps = registry.list_service_providers(session, tenant_id)
        return {"service_providers": [registry.service_provider_json(sp) for sp in sps]}


@sso_api.get(
    "/tenants/<tenant>/saml/service-providers/<int:sp_id>",
    tags=[saml_tag],
    responses={200: ServiceProviderOut},
)
def get_service_provider(path: ServiceProviderPath) -> dict[str, Any]:
    """One registered SP."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return registry.service_provider_json(registry.service_provider_by_id(session, tenant_id, path.sp_id))


@sso_api.delete(
    "/tenants/<tenant>/saml/service-providers/<int:sp_id>", tags=[saml_tag], responses={204: None}
)
def delete_service_provider(path: ServiceProviderPath) -> Any:
    """Forget an SP: its AuthnRequests are refused from now on."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        registry.delete_service_provider(session, tenant_id, path.sp_id)
    return no_content()


@sso_api.post(
    "/tenants/<tenant>/saml/responses",
    tags=[minting_tag],
    responses={201: MintedResponse, 422: Problem},
)
def mint_saml_response(path: TenantPath, body: MintRequest) -> Any:
    """Mint a SAML Response signed with the tenant's real IdP key, for a member and a registered SP.

    It is the response the IdP would send at sign-in, changed as the body says: audience, recipient,
    destination, issuer, times (instants, or seconds from now), NameID, attributes, status, what is
    signed and with which algorithms, encryption, no assertion at all. A field sent as `null` removes
    what it names. Nothing is posted anywhere: post `saml_response` to `acs_url` yourself.
    """
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        settings = tenant_settings(get_tenant(session, tenant_id))
    minted = mint_response(database(), tenant_id, app_state().config.ams_url, settings, body)
    return minted, 201


@sso_api.post(
    "/tenants/<tenant>/oidc/clients",
    tags=[oidc_tag],
    responses={201: clients.ClientOut, 422: Problem},
)
def register_client(path: TenantPath, body: clients.ClientCreate) -> Any:
    """Register an OIDC client (RFC 7591 metadata). The response carries its secret, once."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        client = clients.register_client(session, tenant_id, body)
    return created(client, f"/api/tenants/{tenant_id}/oidc/clients/{client['client_id']}")


@sso_api.get("/tenants/<tenant>/oidc/clients", tags=[oidc_tag], responses={200: clients.ClientList})
def list_clients(path: TenantPath) -> dict[str, Any]:
    """The tenant's OIDC clients (never their secrets)."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return {"clients": clients.list_clients(session, tenant_id)}


@sso_api.get(
    "/tenants/<tenant>/oidc/clients/<client_id>", tags=[oidc_tag], responses={200: clients.ClientOut}
)
def get_client(path: ClientPath) -> dict[str, Any]:
    """One OIDC client."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().read() as session:
        return clients.client_json(clients.get_client(session, tenant_id, path.client_id))


@sso_api.delete("/tenants/<tenant>/oidc/clients/<client_id>", tags=[oidc_tag], responses={204: None})
def delete_client(path: ClientPath) -> Any:
    """Forget an OIDC client; its tokens stop working."""
    tenant_id = authorized_tenant_id(path.tenant)
    with database().session() as session:
        clients.delete_client(session, tenant_id, path.client_id)
    return no_content()
