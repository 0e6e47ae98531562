"""Request and response documents of the AMS member directory API (pydantic; no Flask here)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from simulator.core.web import RequestParameters, TenantPath

RecordType = Literal["member", "non_member", "prospect"]
MemberType = Literal["regular", "student", "retired", "flex"]
MemberStatus = Literal["active", "grace", "lapsed", "inactive"]

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MEMBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class MemberPath(TenantPath):
    member_id: str = Field(..., max_length=32, description="The member's stable id, e.g. M100001.")


class PageQuery(RequestParameters):
    limit: int = Field(50, ge=1, le=500, description="Page size (1–500).")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class MemberQuery(PageQuery):
    """Filters of the member list; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid")

    status: MemberStatus | None = None
    member_type: MemberType | None = None
    record_type: RecordType | None = None
    email: str | None = Field(None, max_length=254, description="Exact email (case-insensitive).")
    updated_since: dt.datetime | None = Field(
        None, description="Members updated at or after this moment (ISO 8601; no zone means UTC)."
    )
    organisation: str | None = Field(None, max_length=32, description="Organisation id, e.g. ORG-0001.")
    q: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Substring of the name, email or member id (case-insensitive).",
    )


class OrganisationQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")


def _normalised_email(value: str | None) -> str | None:
    if value is None:
        return None
    email = value.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise ValueError("is not an email address")
    return email


class _MemberFields(BaseModel):
    """Fields a client may set on a member (create and update)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str | None = Field(None, min_length=1, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100)
    record_type: RecordType | None = None
    member_type: MemberType | None = Field(None, description="Members only; null for others.")
    status: MemberStatus | None = Field(None, description="Members only; null for others.")
    join_date: dt.date | None = None
    expiry_date: dt.date | None = Field(None, description="Membership is good through this date.")
    organisation: str | None = Field(None, max_length=32, description="Organisation id (ORG-…), or null.")
    phone: str | None = Field(None, max_length=40)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
    roles: list[str] | None = Field(None, max_length=20)
    profile: dict[str, Any] | None = Field(None, description="Custom profile fields.")
    password: str | None = Field(None, min_length=1, max_length=200, description="Sign-in password.")


class MemberCreate(_MemberFields):
    """A new person. Members default to a regular, active membership running one year from today."""

    email: str = Field(..., max_length=254)
    given_name: str = Field(..., min_length=1, max_length=100)
    family_name: str = Field(..., min_length=1, max_length=100)
    record_type: RecordType = "member"
    member_id: str | None = Field(
        None, pattern=MEMBER_ID_PATTERN, description="Default: the next free number (M…)."
    )

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str | None:
        return _normalised_email(value)


class MemberUpdate(_MemberFields):
    """A partial update: only the fields sent change; null clears a field that may be empty."""

    email: str | None = Field(None, max_length=254)

    @field_validator("email", "given_name", "family_name", "record_type", "roles", "profile", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        return _normalised_email(value)


class OrganisationRef(BaseModel):
    org_id: str
    name: str


class MemberOut(BaseModel):
    member_id: str
    email: str
    given_name: str
    family_name: str
    record_type: RecordType
    member_type: MemberType | None
    status: MemberStatus | None
    join_date: dt.date | None
    expiry_date: dt.date | None
    organisation: OrganisationRef | None
    phone: str | None
    city: str | None
    region: str | None
    country: str | None
    roles: list[str]
    profile: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    deactivated_at: dt.datetime | None


class MemberList(BaseModel):
    members: list[MemberOut]
    next_cursor: str | None = Field(..., description="Pass as `cursor` for the next page; null at the end.")
    total: int = Field(..., description="Members matching the filters, over all pages.")


class OrganisationOut(BaseModel):
    org_id: str
    name: str
    kind: str
    city: str | None
    region: str | None
    member_count: int


class OrganisationList(BaseModel):
    organisations: list[OrganisationOut]
    next_cursor: str | None
    total: int
