"""The per-tenant registry of SAML service providers (no Flask here).

Only registered SPs get responses, and only at the ACS URLs their metadata lists (no open redirect).

Example::

    with db.session() as session:
        register_service_provider(session, "demo", metadata_xml, sign="both")
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.idp.models import SamlServiceProvider
from simulator.ams.idp.saml.metadata import parse_sp_metadata
from simulator.core.clock import wall_now
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.http_failures import http_failure
from simulator.core.tls import client_verify

SignMode = Literal["assertion", "response", "both"]
METADATA_FETCH_TIMEOUT_SECONDS = 5.0


def fetch_metadata(url: str) -> str:
    """GET an SP's metadata document (5 s timeout, 1 MB at most); failures are a 422."""
    try:
        with httpx.Client(
            timeout=METADATA_FETCH_TIMEOUT_SECONDS, follow_redirects=False, verify=client_verify()
        ) as client:
            response = client.get(url)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = http_failure(exc)
        raise ValidationFailed(
            f"Could not fetch the metadata from {url}: {reason}.",
            code="metadata_unreachable",
            errors=[{"field": "metadata_url", "message": reason}],
        ) from exc
    if response.status_code != 200:
        raise ValidationFailed(
            f"Fetching {url} answered HTTP {response.status_code}.",
            code="metadata_unreachable",
            errors=[{"field": "metadata_url", "message": f"HTTP {response.status_code}"}],
        )
    return response.text


def service_provider_json(sp: SamlServiceProvider) -> dict[str, Any]:
    return {
        "id": sp.pk,
        "entity_id": sp.entity_id,
        "acs": sp.acs,
        "slo": sp.slo,
        "sign": sp.sign,
        "encrypt_assertion": sp.encrypt_assertion,
        "has_encryption_certificate": bool(sp.encryption_certificates),
        "attributes": sp.attributes,
        "created_at": sp.created_at.isoformat(),
        "updated_at": sp.updated_at.isoformat(),
    }


def register_service_provider(
    session: Session,
    tenant_id: str,
    metadata_xml: str,
    sign: SignMode = "both",
    encrypt_assertion: bool = False,
    attributes: list[str] | None = None,
) -> dict[str, Any]:
    """Register (or replace, by entity id) an SP from its metadata XML."""
    metadata = parse_sp_metadata(metadata_xml)
    if encrypt_assertion and not metadata.encryption_certificates:
        raise ValidationFailed(
            "encrypt_assertion needs an encryption certificate in the SP's metadata.",
            code="no_encryption_certificate",
            errors=[{"field": "encrypt_assertion", "message": "the metadata has no encryption key"}],
        )
    now = wall_now()
    sp = find_service_provider(session, tenant_id, metadata.entity_id)
    if sp is None:
        sp = SamlServiceProvider(tenant_id=tenant_id, entity_id=metadata.entity_id, created_at=now)
        session.add(sp)
    sp.metadata_xml = metadata_xml
    sp.acs, sp.slo = metadata.acs, metadata.slo
    sp.encryption_certificates = metadata.encryption_certificates
    sp.sign, sp.encrypt_assertion, sp.attributes = sign, encrypt_assertion, attributes
    sp.updated_at = now
    session.flush()
    return service_provider_json(sp)


def find_service_provider(session: Session, tenant_id: str, entity_id: str) -> SamlServiceProvider | None:
    statement = select(SamlServiceProvider).where(
        SamlServiceProvider.tenant_id == tenant_id, SamlServiceProvider.entity_id == entity_id
    )
    return session.scalar(statement)


def get_service_provider(session: Session, tenant_id: str, entity_id: str) -> SamlServiceProvider:
    sp = find_service_provider(session, tenant_id, entity_id)
    if sp is None:
        raise NotFound(f"No service provider '{entity_id}' is registered.", code="service_provider_not_found")
    return sp


def list_service_providers(session: Session, tenant_id: str) -> list[SamlServiceProvider]:
    statement = select(SamlServiceProvider).where(SamlServiceProvider.tenant_id == tenant_id)
    return list(session.scalars(statement.order_by(SamlServiceProvider.pk)))


def service_provider_by_id(session: Session, tenant_id: str, sp_id: int) -> SamlServiceProvider:
    sp = session.get(SamlServiceProvider, sp_id)
    if sp is None or sp.tenant_id != tenant_id:
        raise NotFound(f"No service provider {sp_id} is registered.", code="service_provider_not_found")
    return sp


def delete_service_provider(session: Session, tenant_id: str, sp_id: int) -> None:
    session.delete(service_provider_by_id(session, tenant_id, sp_id))
    session.flush()
