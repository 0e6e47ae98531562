"""Control API for the request journal: ``/api/tenants/{t}/journal`` (views only translate HTTP).

``GET /api/tenants/{t}/journal/{id}`` adds the SSO messages of one entry, decoded
(:mod:`simulator.console.decoding`); the console's entry page shows the same document.
"""

from __future__ import annotations

from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.console.decoding import decoded_journal_entry
from simulator.core import journal
from simulator.core.db import INT64_MAX
from simulator.core.web import (
    Problem,
    RequestParameters,
    TenantPath,
    app_state,
    authorized_tenant_id,
    database,
    no_content,
)

journal_tag = Tag(name="journal", description="Every AMS and LMS request of a tenant, redacted and bounded")

journal_api = APIBlueprint(
    "journal",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "404": Problem},
)


class JournalQuery(RequestParameters):
    model_config = ConfigDict(extra="forbid")

    since: int = Field(
        0, ge=0, le=INT64_MAX, description="Only entries with a larger id (pass the last next_since)."
    )
    app: Literal["ams", "lms", "console"] | None = Field(
        None, description="'console': refused API keys on the control API's URLs of the tenant."
    )
    path: str | None = Field(
        None, max_length=2048, description="Glob (* and ?); '/api/*' is relative to /t/{tenant}."
    )
    status: int | None = Field(None, ge=100, le=599)
    method: str | None = Field(None, max_length=16)
    fault_fired: bool | None = Field(
        None, description="true: only entries a fault rule fired on; false: only those none fired on."
    )
    limit: int = Field(100, ge=1, le=1000)
    newest: bool = Field(
        False, description="The last 'limit' matching entries instead of the first (still oldest first)."
    )


class JournalEntryPath(TenantPath):
    entry_id: int = Field(..., ge=1, le=INT64_MAX, description="Id of the journal entry.")


class JournalEntryOut(BaseModel):
    id: int
    at: str
    app: str
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = Field(..., description="Null when the connection was reset.")
    response_headers: dict[str, str]
    response_body: str
    latency_ms: float
    fault: dict[str, Any] | None = Field(..., description="The fault rule that fired, if any.")
    remote_addr: str | None


class SamlSubjectConfirmation(BaseModel):
    method: str | None
    recipient: str | None
    not_before: str | None
    not_on_or_after: str | None
    in_response_to: str | None


class SamlConditions(BaseModel):
    not_before: str | None
    not_on_or_after: str | None
    audiences: list[str]


class SamlAuthnStatement(BaseModel):
    authn_instant: str | None
    session_index: str | None
    session_not_on_or_after: str | None
    authn_context_class_ref: str | None


class SamlAttribute(BaseModel):
    name: str
    friendly_name: str | None
    name_format: str | None
    values: list[str]


class SamlAssertion(BaseModel):
    id: str | None
    issue_instant: str | None
    issuer: str | None
    name_id: str | None
    name_id_format: str | None
    name_id_encrypted: bool
    subject_confirmations: list[SamlSubjectConfirmation]
    conditions: SamlConditions | None
    authn_statements: list[SamlAuthnStatement]
    attributes: list[SamlAttribute]


class SamlEncryptedAssertion(BaseModel):
    data_algorithm: str | None
    key_algorithm: str | None


class SamlCertificate(BaseModel):
    subject: str | None
    issuer: str | None
    not_after: str | None
    sha256_fingerprint: str | None
    error: str | None = Field(..., description="Why the embedded certificate could not be read.")


class SamlSignature(BaseModel):
    signs: str | None = Field(..., description="Local name of the element holding the ds:Signature.")
    parent_id: str | None
    reference_uri: str | None
    reference_matches: bool = Field(..., description="The Reference URI names the holding element's ID.")
    reference_target: str | None = Field(..., description="What the Reference URI names when it does not.")
    references: int
    signature_method: str | None
    canonicalization_method: str | None
    digest_method: str | None
    transforms: list[str]
    value: Literal["present", "missing", "redacted in the journal"]
    certificate: SamlCertificate | None


class SamlSummary(BaseModel):
    message_type: str = Field(..., description="Response, AuthnRequest, LogoutRequest…")
    id: str | None
    in_response_to: str | None
    issue_instant: str | None
    destination: str | None
    issuer: str | None
    status_codes: list[str] = Field(..., description="Top-level status code first, then nested ones.")
    status_message: str | None
    details: dict[str, str] = Field(..., description="What a request asks for (ACS URL, NameID policy…).")
    assertions: list[SamlAssertion]
    encrypted_assertions: list[SamlEncryptedAssertion]
    signatures: list[SamlSignature]


class DecodedSaml(BaseModel):
    source: str = Field(..., description="Where in the entry the message was found.")
    field: Literal["SAMLResponse", "SAMLRequest"]
    binding: Literal["HTTP-Redirect", "HTTP-POST"]
    relay_state: str | None
    sig_alg: str | None
    query_signature: str | None = Field(..., description="The HTTP-Redirect binding's Signature field.")
    error: str | None = Field(..., description="Why the message could not be decoded, in one sentence.")
    notes: list[str]
    xml: str | None = Field(..., description="The message, pretty-printed.")
    summary: SamlSummary | None


class DecodedJwt(BaseModel):
    source: str = Field(..., description="Where in the entry the JWT was found.")
    kind: Literal["JWS", "JWE"] | None
    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    times: dict[str, str] = Field(..., description="exp, iat, nbf and auth_time as UTC ISO 8601 dates.")
    signature: str | None = Field(..., description="present, none, or redacted in the journal.")
    expired_at_request: bool | None = Field(..., description="exp lay before the request was made.")
    error: str | None = Field(..., description="Why the JWT could not be decoded, in one sentence.")
    notes: list[str]


class DecodedMessages(BaseModel):
    saml: list[DecodedSaml]
    jwts: list[DecodedJwt]


class JournalEntryDecoded(JournalEntryOut):
    decoded: DecodedMessages = Field(..., description="The SSO messages the entry carries, decoded.")


class JournalPage(BaseModel):
    entries: list[JournalEntryOut] = Field(..., description="Oldest first.")
    next_since: int = Field(..., description="The largest id returned (or 'since' when none).")


@journal_api.get("/tenants/<tenant>/journal", tags=[journal_tag], responses={200: JournalPage, 422: Problem})
def read_journal(path: TenantPath, query: JournalQuery) -> dict[str, Any]:
    """Journal entries after ``since`` that match every given filter, oldest first."""
    tenant_id = authorized_tenant_id(path.tenant)
    entries, next_since = journal.list_entries(
        database(), tenant_id, journal.JournalFilter(**query.model_dump())
    )
    return {"entries": entries, "next_since": next_since}


@journal_api.get(
    "/tenants/<tenant>/journal/<int:entry_id>", tags=[journal_tag], responses={200: JournalEntryDecoded}
)
def read_journal_entry(path: JournalEntryPath) -> dict[str, Any]:
    """One journal entry, with the SAML messages and JWTs it carries decoded (nothing is verified)."""
    tenant_id = authorized_tenant_id(path.tenant)
    return decoded_journal_entry(database(), tenant_id, path.entry_id, app_state().config.journal_body_limit)


@journal_api.delete("/tenants/<tenant>/journal", tags=[journal_tag], responses={204: None})
def clear_journal(path: TenantPath) -> Any:
    """Delete every journal entry of the tenant."""
    journal.clear_journal(database(), authorized_tenant_id(path.tenant))
    return no_content()
