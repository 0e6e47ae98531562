"""The per-tenant registry of token services: who may receive hand-off tokens, where, and what (no Flask).

A service is registered with its landing URL (where AMS-launched sign-ins go), an allow-list of return URLs
(where LMS-initiated sign-ins may come back to, matched exactly: no open redirect) and an attribute release
list. Registration answers a credential — ``service_id`` and ``service_secret`` — whose secret is shown
once and stored only as a digest.

Example::

    with db.session() as session:
        service = register_service(session, "demo", ServiceCreate(name="LMS", landing_url="https://lms/land"))
        service["service_secret"]   # shown once
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from simulator.ams.idp.token.models import HandoffToken, TokenService
from simulator.core.clock import wall_now
from simulator.core.errors import Conflict, NotFound, SandboxError
from simulator.core.security import digest_key, keys_equal

SERVICE_ID_PREFIX = "tks_"


def _check_url(url: str) -> str:
    """An absolute http(s) URL without a fragment (tokens ride in the query, never in a fragment)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"'{url}' must be an absolute http(s) URL without a fragment")
    return url


class ServiceCreate(BaseModel):
    """A token service: where tokens go and what its validations release."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200, description="Unique within the tenant.")
    landing_url: str = Field(..., max_length=2000, description="Where AMS-launched sign-ins are sent.")
    return_url_allowlist: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Return URLs of LMS-initiated sign-ins (matched exactly; not implied by landing_url).",
    )
    attributes: list[str] | None = Field(
        None, description="Canonical attribute names released to this service (default: all)."
    )

    @field_validator("landing_url")
    @classmethod
    def _landing(cls, url: str) -> str:
        return _check_url(url)

    @field_validator("return_url_allowlist")
    @classmethod
    def _return_urls(cls, urls: list[str]) -> list[str]:
        return [_check_url(url) for url in urls]


class ServiceOut(BaseModel):
    service_id: str
    service_secret: str | None = Field(None, description="Only in the registration response.")
    name: str
    landing_url: str
    return_url_allowlist: list[str]
    attributes: list[str] | None
    created_at: str
    updated_at: str


class ServiceList(BaseModel):
    services: list[ServiceOut]


class BackChannelError(SandboxError):
    """An error of the token back channel: its problem document also carries ``error`` (= ``code``)."""

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem = super().to_problem(instance)
        problem["error"] = self.code
        return problem


class InvalidServiceCredential(BackChannelError):
    """The caller is not a registered token service of this tenant (or sent the wrong secret)."""

    code = "invalid_client"
    http_status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Basic realm="token-services"'})


def service_json(service: TokenService, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": service.service_id,
        "name": service.name,
        "landing_url": service.landing_url,
        "return_url_allowlist": list(service.return_urls),
        "attributes": service.attributes,
        "created_at": service.created_at.isoformat(),
        "updated_at": service.updated_at.isoformat(),
    }
    if secret is not None:
        body["service_secret"] = secret
    return body


def register_service(
    session: Session, tenant_id: str, data: ServiceCreate, replace: bool = False
) -> dict[str, Any]:
    """Register a service (a name already taken is a 409, unless ``replace``: same id, new secret)."""
    now = wall_now()
    service = session.scalar(
        select(TokenService).where(TokenService.tenant_id == tenant_id, TokenService.name == data.name)
    )
    if service is not None and not replace:
        raise Conflict(
            f"A token service named '{data.name}' is already registered.", code="token_service_exists"
        )
    if service is None:
        service = TokenService(
            tenant_id=tenant_id,
            service_id=SERVICE_ID_PREFIX + secrets.token_urlsafe(12),
            name=data.name,
            created_at=now,
        )
        session.add(service)
    secret = secrets.token_urlsafe(32)
    service.secret_hash = digest_key(secret)
    service.landing_url = data.landing_url
    service.return_urls = list(data.return_url_allowlist)
    service.attributes = data.attributes
    service.updated_at = now
    session.flush()
    return service_json(service, secret)


def find_service(session: Session, tenant_id: str, key: str) -> TokenService | None:
    """The service whose id — or name — is ``key``."""
    statement = select(TokenService).where(
        TokenService.tenant_id == tenant_id,
        or_(TokenService.service_id == key, TokenService.name == key),
    )
    return session.scalars(statement.order_by(TokenService.pk)).first()


def get_service(session: Session, tenant_id: str, key: str) -> TokenService:
    service = find_service(session, tenant_id, key)
    if service is None:
        raise NotFound(f"There is no token service '{key}'.", code="token_service_not_found")
    return service


def list_services(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    statement = select(TokenService).where(TokenService.tenant_id == tenant_id).order_by(TokenService.pk)
    return [service_json(service) for service in session.scalars(statement)]


def delete_service(session: Session, tenant_id: str, key: str) -> None:
    """Forget a service and every token issued to it."""
    service = get_service(session, tenant_id, key)
    for token in session.scalars(
        select(HandoffToken).where(
            HandoffToken.tenant_id == tenant_id, HandoffToken.service_id == service.service_id
        )
    ):
        session.delete(token)
    session.delete(service)
    session.flush()


def authenticate_service(
    session: Session, tenant_id: str, service_id: str | None, secret: str | None
) -> TokenService:
    """The service holding this credential; :class:`InvalidServiceCredential` (401) otherwise."""
    if not service_id or not secret:
        raise InvalidServiceCredential(
            "Authenticate with the token service's credential: HTTP Basic (service id, secret) "
            "or 'client_id' and 'client_secret' in the body."
        )
    service = session.scalar(
        select(TokenService).where(TokenService.tenant_id == tenant_id, TokenService.service_id == service_id)
    )
    if service is None or not keys_equal(digest_key(secret), service.secret_hash):
        raise InvalidServiceCredential("The token service id or secret is not valid.")
    return service
