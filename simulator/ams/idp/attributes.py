"""What the AMS asserts about a person, and who may sign in: shared by the SAML IdP and the OIDC provider.

Attributes have a *canonical* name (``email``, ``member_type`` …). Each protocol puts them on the wire
under its own names — SAML URIs with FriendlyNames, OIDC claim names — unless the tenant renames them
(settings ``sso.attribute_names``: canonical → wire name), to mimic a particular AMS or a migration.
Release rules (per SP or client: a list of canonical names; default all) decide what a partner receives.

Example::

    member = signed_in_member(db, "acme", member_id)
    decision = access_decision(member, settings.access)
    values = member_attributes(member, settings.sso, decision.access)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.ams.idp.login import SignedInMember
from simulator.core.settings import AccessPolicy, SsoSettings

SANDBOX_ATTRIBUTE_PREFIX = "urn:ams-lms-sandbox:attribute:"
STANDARD_SAML_NAMES = {
    "email": ("urn:oid:0.9.2342.19200300.100.1.3", "mail"),
    "given_name": ("urn:oid:2.5.4.42", "givenName"),
    "family_name": ("urn:oid:2.5.4.4", "sn"),
    "name": ("urn:oid:2.16.840.1.113730.3.1.241", "displayName"),
}
CANONICAL_ATTRIBUTES = (
    "member_id",
    "email",
    "given_name",
    "family_name",
    "name",
    "record_type",
    "member_type",
    "member_status",
    "membership_expires",
    "organisation",
    "organisation_id",
    "access",
)
SCOPE_CLAIMS = {
    "profile": ("given_name", "family_name", "name"),
    "email": ("email",),
    "membership": (
        "member_id",
        "record_type",
        "member_type",
        "member_status",
        "membership_expires",
        "organisation",
        "organisation_id",
        "access",
    ),
}

DENIED_MESSAGES = {
    "lapsed": "Your membership has lapsed; renew to regain access.",
    "grace": "Your membership has expired; renew to regain access.",
    "inactive": "Your membership is inactive; contact the association to reactivate it.",
    "non_member": "Access is for members only; join the association to sign in.",
    "prospect": "Access is for members only; join the association to sign in.",
}


@dataclass(frozen=True)
class AccessDecision:
    """Whether a person may sign in to partners, and with which ``access`` flag (None: full access)."""

    allowed: bool
    access: str | None
    category: str
    message: str = ""


def access_category(member: SignedInMember) -> str:
    """``non_member``, ``prospect``, or the member's status (active, grace, lapsed, inactive)."""
    if member.record_type != "member":
        return member.record_type
    return member.status or "inactive"


def access_decision(member: SignedInMember, policy: AccessPolicy) -> AccessDecision:
    """Apply the tenant's ``access`` settings to a person's record as it stands now (at sign-in time)."""
    category = access_category(member)
    rule = policy.rule_for(category)
    if rule == "deny":
        return AccessDecision(False, None, category, DENIED_MESSAGES[category])
    if rule in ("restricted", "read_only"):
        return AccessDecision(True, rule, category)
    return AccessDecision(True, None, category)


def member_attributes(member: SignedInMember, sso: SsoSettings, access: str | None) -> dict[str, str]:
    """Every attribute the AMS can assert about ``member`` (canonical names; empty values left out)."""
    values: dict[str, Any] = {
        "member_id": member.member_id,
        "email": member.email,
        "given_name": member.given_name,
        "family_name": member.family_name,
        "name": f"{member.given_name} {member.family_name}",
        "record_type": member.record_type,
        "member_type": member.member_type,
        "member_status": member.status,
        "membership_expires": member.expiry_date.isoformat() if member.expiry_date else None,
        "organisation": member.organisation_name,
        "organisation_id": member.organisation_id,
        "access": access,
    }
    profile = member.profile or {}
    for field in sso.profile_attributes:
        if field not in values and profile.get(field) is not None:
            values[field] = str(profile[field])
    return {name: str(value) for name, value in values.items() if value is not None}


def released(values: dict[str, str], release: list[str] | None) -> dict[str, str]:
    """The attributes a partner receives: its release list (canonical names), or all when it has none.

    ``member_id`` and ``access`` are always released: the first identifies the person, the second is a
    restriction the partner must know about.
    """
    if release is None:
        return dict(values)
    keep = set(release) | {"member_id", "access"}
    return {name: value for name, value in values.items() if name in keep}


def saml_name(canonical: str, sso: SsoSettings) -> tuple[str, str]:
    """(Name, FriendlyName) of an attribute on the wire (SAML core 2.0 §2.7.3.1)."""
    if canonical in sso.attribute_names:
        renamed = sso.attribute_names[canonical]
        return renamed, renamed.rsplit(":", 1)[-1]
    if canonical in STANDARD_SAML_NAMES:
        return STANDARD_SAML_NAMES[canonical]
    return SANDBOX_ATTRIBUTE_PREFIX + canonical, canonical


def claim_name(canonical: str, sso: SsoSettings) -> str:
    """The OIDC claim name of an attribute (renamed by ``sso.attribute_names`` when the tenant says so)."""
    return sso.attribute_names.get(canonical, canonical)


def claims_for_scopes(values: dict[str, str], scopes: set[str], sso: SsoSettings) -> dict[str, Any]:
    """OIDC Core §5.4: claims the granted scopes ask for (custom profile fields ride with ``membership``)."""
    wanted: set[str] = set()
    for scope in scopes:
        wanted.update(SCOPE_CLAIMS.get(scope, ()))
    if "membership" in scopes:
        wanted.update(name for name in values if name not in CANONICAL_ATTRIBUTES)
    claims: dict[str, Any] = {
        claim_name(name, sso): value for name, value in values.items() if name in wanted
    }
    if "email" in wanted and "email" in values:
        claims["email_verified"] = True
    return claims
