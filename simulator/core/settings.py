"""The tenant settings document: one validated JSON document per tenant.

The same schema serves the control API (``GET/PATCH /api/tenants/{t}/settings``), scenario files and the
console. Every field has a default, so ``{}`` is a complete document. A PATCH is a JSON merge patch
(RFC 7396): objects merge, lists and scalars replace, ``null`` removes (back to the default). The merged
document is validated as a whole before anything is stored.

Example::

    settings = TenantSettings()                       # all defaults
    merged = apply_merge_patch(settings, {"sso": {"protocol": "oidc"}})
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.core.errors import ValidationFailed, validation_failed_from_pydantic
from simulator.core.value_formats import validate_format

SECRET_MASK = "[redacted]"  # noqa: S105 - the mask shown in place of a secret
MIN_ENDPOINT_SECRET = 16

SsoProtocol = Literal["saml", "oidc", "token"]
WRITEBACK_TRIGGERS = (
    "course.completed",
    "course.passed",
    "course.failed",
    "webinar.attended",
    "certificate.issued",
    "credits.awarded",
    "enrollment.started",
)
WritebackTrigger = Literal[
    "course.completed",
    "course.passed",
    "course.failed",
    "webinar.attended",
    "certificate.issued",
    "credits.awarded",
    "enrollment.started",
]
WritebackDestination = Literal["ce_transcript", "activity_history", "profile_field", "badge"]
HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


ASSOCIATION_NAME_LENGTH = 120
SHORT_NAME_LENGTH = 20


class Branding(_Section):
    """How the tenant's AMS and LMS pages look; a tenant's pages carry its own name unless set here."""

    association_name: str = Field(
        "Demo Professional Association",
        min_length=1,
        max_length=ASSOCIATION_NAME_LENGTH,
        description="Shown on the tenant's pages; a tenant that sets none shows its name (else its id).",
    )
    short_name: str = Field(
        "DPA",
        min_length=1,
        max_length=SHORT_NAME_LENGTH,
        description="The badge beside the name; a tenant that sets none shows the name's initials.",
    )
    primary_colour: str = Field("#1d4e89", pattern=HEX_COLOUR)
    accent_colour: str = Field("#f4a259", pattern=HEX_COLOUR)


class SsoSettings(_Section):
    protocol: SsoProtocol = Field("saml", description="How the LMS signs learners in through the AMS.")
    allow_idp_initiated: bool = Field(True, description="Accept unsolicited SAML responses at the LMS.")
    clock_skew_seconds: int = Field(120, ge=0, le=3600)
    attribute_names: dict[str, str] = Field(
        default_factory=dict,
        description="Rename released attributes/claims (canonical name → name on the wire).",
    )
    profile_attributes: list[str] = Field(
        default_factory=lambda: ["chapter", "specialty"],
        max_length=50,
        description="Custom AMS profile fields released as attributes/claims (same name, or renamed).",
    )
    login_session_minutes: int = Field(
        480, ge=1, le=43_200, description="How long a sign-in at the AMS login page is remembered."
    )
    assertion_lifetime_seconds: int = Field(
        300, ge=30, le=86_400, description="SAML assertion validity (NotOnOrAfter - IssueInstant)."
    )
    authorization_code_seconds: int = Field(60, ge=5, le=600, description="OIDC authorization code lifetime.")
    access_token_seconds: int = Field(
        3600, ge=60, le=86_400, description="OIDC access and ID token lifetime."
    )
    idp_metadata_url: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=2000,
        description="SAML metadata URL of an external IdP the LMS trusts (default: this tenant's AMS).",
    )
    oidc_discovery_url: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=2000,
        description="OpenID discovery URL of an external provider (default: this tenant's AMS).",
    )
    oidc_client_id: str | None = Field(
        None,
        max_length=200,
        description="The LMS's client id at the provider (default: registered dynamically on first use).",
    )
    oidc_client_secret: str | None = Field(
        None, max_length=500, description="The LMS's client secret at the provider (a secret)."
    )
    token_ttl_seconds: int = Field(
        60, ge=1, le=3600, description="Token hand-off: lifetime of a one-time token (wall clock)."
    )
    token_service_id: str | None = Field(
        None,
        max_length=200,
        description="Token hand-off: the LMS's service id at the AMS (set when the tenant is seeded).",
    )
    token_service_secret: str | None = Field(
        None, max_length=500, description="Token hand-off: the LMS's service secret at the AMS (a secret)."
    )

    @field_validator("profile_attributes")
    @classmethod
    def _profile_attribute_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", name)]
        if bad:
            raise ValueError(f"profile attribute names must be simple identifiers; not: {', '.join(bad)}")
        return names


class AccessPolicy(_Section):
    """Who may enter the LMS, decided at each sign-on from the member's record in the AMS."""

    non_members: Literal["allow", "restricted", "deny"] = "allow"
    prospects: Literal["allow", "restricted", "deny"] = "deny"
    grace: Literal["full", "read_only", "deny"] = "full"
    lapsed: Literal["full", "read_only", "deny"] = "deny"
    inactive: Literal["full", "read_only", "deny"] = "deny"
    lapsed_pays_member_price: bool = False

    def rule_for(self, category: str) -> str:
        """The rule for a person's category (non_member, prospect, grace, lapsed, inactive; else full)."""
        rules = {
            "non_member": self.non_members,
            "prospect": self.prospects,
            "grace": self.grace,
            "lapsed": self.lapsed,
            "inactive": self.inactive,
        }
        return rules.get(category, "full")


class MembershipPolicy(_Section):
    grace_days: int = Field(30, ge=0, le=365, description="Days after expiry before grace becomes lapsed.")


class BatchSchedule(_Section):
    every: Literal["hourly", "nightly", "weekly"] = "nightly"
    at: str = Field("02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time (HH:MM).")
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "sunday"


class WritebackRule(_Section):
    """trigger → value format → destination, delivered immediately or in batches."""

    name: str = Field(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    trigger: WritebackTrigger
    value_format: str = Field("ce_credit", min_length=1, max_length=4000)
    destination: WritebackDestination = "ce_transcript"
    mode: Literal["immediate", "batch"] = "immediate"
    schedule: BatchSchedule | None = None
    enabled: bool = True

    @field_validator("value_format")
    @classmethod
    def _format_renders(cls, value: str) -> str:
        """A ready-made format name, or a custom template that renders against a sample event."""
        return validate_format(value)

    @model_validator(mode="after")
    def _batch_needs_schedule(self) -> WritebackRule:
        if self.mode == "batch" and self.schedule is None:
            self.schedule = BatchSchedule()
        if self.mode == "immediate" and self.schedule is not None:
            raise ValueError("a schedule only applies to mode 'batch'")
        return self


class ExternalEndpoint(_Section):
    url: str = Field(..., pattern=r"^https?://", max_length=2000)
    secret: str = Field(
        ...,
        max_length=200,
        description=f"The signing secret, at least {MIN_ENDPOINT_SECRET} characters; write-only: the API "
        f"shows it as `{SECRET_MASK}`.",
    )

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        # checked here, not as minLength in the schema: the schema also describes the settings the API
        # shows, where the secret reads as the (shorter) mask
        if len(value) < MIN_ENDPOINT_SECRET:
            raise ValueError(f"a secret has at least {MIN_ENDPOINT_SECRET} characters")
        return value


class AmsAction(_Section):
    """What the AMS does when it records a writeback: put the member in a segment and/or award a badge.

    ``segment`` and ``badge`` may name ``{activity_code}``, ``{credit_type}`` or ``{destination}``.
    """

    activity_code: str = Field("*", min_length=1, max_length=100, description="Glob over the activity code.")
    destination: WritebackDestination | None = None
    segment: str | None = Field(
        None, min_length=1, max_length=120, examples=["webinar-{activity_code}-attendees"]
    )
    badge: str | None = Field(None, min_length=1, max_length=120)

    @model_validator(mode="after")
    def _does_something(self) -> AmsAction:
        if self.segment is None and self.badge is None:
            raise ValueError("give a 'segment', a 'badge', or both")
        for template in (self.segment, self.badge):
            if template is not None:
                try:
                    template.format(activity_code="x", credit_type="x", destination="x")
                except (KeyError, IndexError, ValueError) as exc:
                    raise ValueError(f"unknown placeholder in {template!r}: {exc}") from exc
        return self


class WritebackSettings(_Section):
    rules: list[WritebackRule] = Field(
        default_factory=lambda: [
            WritebackRule(name="ce-credits", trigger="credits.awarded", value_format="ce_credit"),
            WritebackRule(
                name="completions",
                trigger="course.completed",
                value_format="activity",
                destination="activity_history",
            ),
        ]
    )
    batch_max_size: int = Field(500, ge=1, le=10_000)
    external_endpoint: ExternalEndpoint | None = None
    ams_actions: list[AmsAction] = Field(
        default_factory=list,
        max_length=100,
        description="Segments and badges the AMS assigns when it records a writeback.",
    )

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, rules: list[WritebackRule]) -> list[WritebackRule]:
        names = [rule.name for rule in rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        return rules


DEFAULT_RETRY_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


class RetryPolicy(_Section):
    """Delivery retries (Standard Webhooks schedule), scaled by ``time_scale`` so tests run in seconds."""

    schedule_seconds: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE), min_length=1)
    time_scale: float = Field(1.0, gt=0, le=1.0)
    jitter: float = Field(0.1, ge=0, le=1.0)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("schedule_seconds")
    @classmethod
    def _non_negative_increasing(cls, values: list[float]) -> list[float]:
        if any(v < 0 for v in values):
            raise ValueError("delays cannot be negative")
        if any(b < a for a, b in itertools.pairwise(values)):
            raise ValueError("delays must not decrease")
        return values


class JournalSettings(_Section):
    max_entries: int = Field(
        10_000, ge=10, le=1_000_000, description="Oldest entries are dropped beyond this."
    )


class CommerceSettings(_Section):
    """Purchase orders and card checkout at the AMS (see docs/commerce.md)."""

    access_before_payment: bool = Field(
        False, description="Grant LMS access when a purchase order is invoiced, before it is paid."
    )


class TenantSettings(_Section):
    """Everything a tenant can configure; every field is defaulted."""

    branding: Branding = Field(default_factory=Branding)
    timezone: str = Field("America/New_York", description="IANA zone for business dates and schedules.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    sso: SsoSettings = Field(default_factory=SsoSettings)
    catalog_owner: Literal["ams", "lms"] = "ams"
    purchase_sync: Literal["immediate", "next_sign_on"] = "immediate"
    access: AccessPolicy = Field(default_factory=AccessPolicy)
    commerce: CommerceSettings = Field(default_factory=CommerceSettings)
    membership: MembershipPolicy = Field(default_factory=MembershipPolicy)
    writeback: WritebackSettings = Field(default_factory=WritebackSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    journal: JournalSettings = Field(default_factory=JournalSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", value):
            raise ValueError(f"'{value}' is not an IANA time zone name")
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone name") from exc
        return value

    @property
    def zone(self) -> dt.tzinfo:
        return zoneinfo.ZoneInfo(self.timezone)


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of the settings document (published for editors and the console)."""
    schema = TenantSettings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Tenant settings"
    return schema


def masked_settings(document: Any) -> Any:
    """The settings document as the API shows it: every ``*secret`` value that is set is masked.

    Secrets are write-only: a PATCH sets them, a GET never returns them.
    """
    if isinstance(document, dict):
        return {
            key: SECRET_MASK if key.endswith("secret") and value is not None else masked_settings(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [masked_settings(item) for item in document]
    return document


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def validate_settings(document: Any) -> TenantSettings:
    """Validate a whole settings document; raises ``ValidationFailed`` naming each bad field."""
    if not isinstance(document, dict):
        raise ValidationFailed(
            "The settings document must be a JSON object.",
            errors=[{"field": "(body)", "message": "not an object"}],
        )
    try:
        return TenantSettings.model_validate(document)
    except ValidationError as exc:
        raise validation_failed_from_pydantic(exc) from exc


def short_name_of(association_name: str) -> str:
    """Initials of a name of several words (``Acme Nurses Guild`` → ``ANG``), else the one word."""
    words = re.findall(r"[^\W_]+", association_name)
    if len(words) > 1:
        return "".join(word[0] for word in words).upper()[:SHORT_NAME_LENGTH]
    return (words[0] if words else association_name.strip() or "?").upper()[:SHORT_NAME_LENGTH]


def branded(document: Any, tenant_name: str) -> Any:
    """``document`` (a settings document, not yet validated) with the tenant's own name wherever its
    branding names none: ``association_name`` becomes ``tenant_name`` and ``short_name`` the initials of
    the association name. Anything else, invalid documents included, is left to :func:`validate_settings`.

    Example::

        branded({}, "Acme Nurses Guild")["branding"]
        # {'association_name': 'Acme Nurses Guild', 'short_name': 'ANG'}
    """
    if not isinstance(document, dict) or not isinstance(document.get("branding", {}), dict):
        return document
    branding = dict(document.get("branding") or {})
    name = branding.setdefault("association_name", tenant_name[:ASSOCIATION_NAME_LENGTH])
    if "short_name" not in branding and isinstance(name, str):
        branding["short_name"] = short_name_of(name)
    return {**document, "branding": branding}


def apply_merge_patch(current: TenantSettings, patch: Any) -> TenantSettings:
    """The settings that result from merge-patching ``current`` with ``patch`` (validated, not stored)."""
    return validate_settings(merge_patch(current.model_dump(mode="json"), patch))
