"""The saml-sp target file: what a real SAML service provider has, and how the suite sees who is signed in.

Example (the keys every target needs; the others are optional)::

    suite: saml-sp
    idp: {tenant: acme}
    sp:
      metadata_url: http://127.0.0.1:8080/mellon/metadata
      login_url: http://127.0.0.1:8080/secret/
    probe:
      url: http://127.0.0.1:8080/secret/whoami
      signed_in: {status: 200, body_contains: "{email}"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

PROBE_FIELDS = ("member_id", "email", "given_name", "family_name", "member_type", "member_status")
URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"

ProbeField = Literal["member_id", "email", "given_name", "family_name", "member_type", "member_status"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _usable_url(value: str | None) -> str | None:
    if value is not None:
        try:
            httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a usable URL ({exc})") from exc
    return value


class IdpSection(_Section):
    tenant: str = Field(
        ...,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="The sandbox tenant whose IdP metadata the SP trusts (created on first use).",
    )


class SpSection(_Section):
    metadata_url: str | None = Field(
        None, pattern=URL_PATTERN, description="Where the SP publishes its metadata."
    )
    metadata_file: Path | None = Field(
        None, description="Or: a file holding it (relative to the target file)."
    )
    login_url: str = Field(..., pattern=URL_PATTERN, description="A GET here starts SP-initiated sign-on.")
    idp_initiated: bool = Field(False, description="The SP accepts unsolicited (IdP-initiated) responses.")
    relay_state: str | None = Field(
        None, max_length=2000, description="RelayState sent with IdP-initiated responses (often a path)."
    )

    _urls = field_validator("metadata_url", "login_url")(_usable_url)

    @field_validator("metadata_file")
    @classmethod
    def _relative_to_target(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base")
        if value is None or value.is_absolute() or base is None:
            return value
        return base / value

    @model_validator(mode="after")
    def _one_metadata_source(self) -> SpSection:
        if (self.metadata_url is None) == (self.metadata_file is None):
            raise ValueError("give exactly one of 'metadata_url' and 'metadata_file'")
        return self


class SignedIn(_Section):
    status: int = Field(200, ge=100, le=599, description="The probe's status when someone is signed in.")
    body_contains: str | list[str] = Field(
        ...,
        description="Text the probe shows when the test member is signed in: {email}, {member_id}, {name}…",
    )

    @property
    def templates(self) -> list[str]:
        return [self.body_contains] if isinstance(self.body_contains, str) else list(self.body_contains)

    @field_validator("body_contains")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        values = [value] if isinstance(value, str) else value
        if not values or any(not item.strip() for item in values):
            raise ValueError('name at least one non-empty text, e.g. "{email}"')
        return value


class ProbeSection(_Section):
    url: str = Field(..., pattern=URL_PATTERN, description="A page that shows who is signed in.")
    signed_in: SignedIn
    shows: list[ProbeField] = Field(
        default_factory=lambda: list(PROBE_FIELDS),
        description="Which of the member's values the probe displays (the attribute checks look for them).",
    )
    follow_redirects: bool = Field(
        False, description="Follow the probe's redirects (default: judge its answer)."
    )


class SamlSpTarget(_Section):
    suite: Literal["saml-sp"]
    idp: IdpSection
    sp: SpSection
    probe: ProbeSection
    timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="How long one request to the SP may take before it counts as no answer.",
    )
