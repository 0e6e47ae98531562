"""Just-in-time provisioning: who the IdP says the learner is, what they may do, and their LMS account.

Identity is the AMS member id (``member_id`` attribute or claim; the SAML NameID or OIDC ``sub`` when the
IdP sends none), never the email, which changes. Each sign-on refreshes email, names, member type and
status, the raw attributes and ``last_sign_on_at``. Attribute names on the wire follow the tenant's
``sso.attribute_names`` (canonical → wire name); SAML attributes match by URI Name or FriendlyName.

Access follows the tenant's ``access`` policy (grace/lapsed/inactive: full, read_only or deny;
non-members and prospects: allow, restricted or deny) and any ``access`` value the IdP sends: the
stricter wins. A denied learner's record is still refreshed, but no session is opened.

Example::

    identity = identity_from_attributes(attributes, settings.sso, fallback_member_id=name_id)
    learner = provision(db, "demo", identity, decide_access(identity, settings.access))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import Forbidden, SandboxError
from simulator.core.prepared import Prepared
from simulator.core.settings import AccessPolicy, SsoSettings
from simulator.lms.commerce.service import reconcile_at_sign_on
from simulator.lms.models import LEARNER_ACCESS, Learner

CANONICAL_ATTRIBUTES = (
    "member_id",
    "email",
    "given_name",
    "family_name",
    "record_type",
    "member_type",
    "member_status",
    "membership_expires",
    "organisation",
    "access",
)
SANDBOX_ATTRIBUTE_PREFIX = "urn:ams-lms-sandbox:attribute:"
STANDARD_NAMES = {
    "email": ("urn:oid:0.9.2342.19200300.100.1.3", "mail", "emailAddress"),
    "given_name": ("urn:oid:2.5.4.42", "givenName"),
    "family_name": ("urn:oid:2.5.4.4", "sn", "surname"),
}
COLUMN_LIMITS = {"email": 254, "given_name": 100, "family_name": 100, "member_type": 32, "member_status": 32}
MEMBER_ID_MAX = 64


class SignOnRefused(Forbidden):
    """The learner is known but the tenant's policy (or the IdP) denies them the LMS."""

    code = "access_denied"


@dataclass(frozen=True)
class Identity:
    """The learner as asserted by the IdP, under canonical names."""

    member_id: str
    values: dict[str, str | None]
    attributes: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


@dataclass(frozen=True)
class AccessDecision:
    access: str
    category: str
    message: str = ""

    @property
    def denied(self) -> bool:
        return self.access == "denied"


@dataclass(frozen=True)
class LearnerView:
    """A detached snapshot of a learner row (safe to use after the session closes)."""

    member_id: str
    email: str | None
    given_name: str | None
    family_name: str | None
    member_type: str | None
    member_status: str | None
    access: str
    created: bool


def wire_names(canonical: str, sso: SsoSettings) -> list[str]:
    """Names an attribute may arrive under: the tenant's renaming first, then common conventions."""
    names = []
    if canonical in sso.attribute_names:
        renamed = sso.attribute_names[canonical]
        names += [renamed, renamed.rsplit(":", 1)[-1]]
    names += [canonical, SANDBOX_ATTRIBUTE_PREFIX + canonical, *STANDARD_NAMES.get(canonical, ())]
    return names


def _first_value(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str | int | float)), None)
    if value is None or isinstance(value, dict | bool):
        return None
    text = str(value).strip()
    return text or None


def identity_from_attributes(
    attributes: Mapping[str, Any], sso: SsoSettings, fallback_member_id: str | None
) -> Identity:
    """Read the canonical attributes out of SAML attributes or OIDC claims (``attributes``)."""
    values: dict[str, str | None] = {}
    for canonical in CANONICAL_ATTRIBUTES:
        found = None
        for name in wire_names(canonical, sso):
            if name in attributes:
                found = _first_value(attributes[name])
                if found is not None:
                    break
        values[canonical] = found
    member_id = values.get("member_id") or fallback_member_id
    if not member_id or len(member_id) > MEMBER_ID_MAX:
        raise SandboxError(
            "The identity provider sent no usable member id (member_id attribute, NameID or sub).",
            code="missing_member_id",
            http_status=403,
        )
    values["member_id"] = member_id
    return Identity(member_id=member_id, values=values, attributes=dict(attributes))


def _category(identity: Identity) -> str:
    record_type = identity.get("record_type")
    if record_type and record_type != "member":
        return record_type
    status = identity.get("member_status")
    if status:
        return status
    return "member" if record_type == "member" else "non_member"


def _idp_access(value: str | None) -> str:
    if value is None or value == "full":
        return "full"
    if value in ("deny", "denied"):
        return "denied"
    return value if value in LEARNER_ACCESS else "restricted"


def decide_access(identity: Identity, policy: AccessPolicy) -> AccessDecision:
    """The learner's access: the tenant policy for their category, tightened by the IdP's ``access``."""
    category = _category(identity)
    rule = policy.rule_for(category)
    from_policy = {"allow": "full", "deny": "denied"}.get(rule, rule)
    access = max(from_policy, _idp_access(identity.get("access")), key=LEARNER_ACCESS.index)
    message = ""
    if access == "denied":
        message = {
            "grace": "Your membership has expired: renew it to use the learning portal.",
            "lapsed": "Your membership has lapsed: renew it to use the learning portal.",
            "inactive": "Your membership is inactive: contact the association to reactivate it.",
            "non_member": "The learning portal is for members only.",
            "prospect": "The learning portal is for members only.",
        }.get(category, "Your association does not allow you into the learning portal.")
    return AccessDecision(access=access, category=category, message=message)


def _clip(name: str, value: str | None) -> str | None:
    return value[: COLUMN_LIMITS[name]] if value is not None else None


_LEARNERS = Learner.__table__
_VIEW_COLUMNS = (
    _LEARNERS.c.member_id,
    _LEARNERS.c.email,
    _LEARNERS.c.given_name,
    _LEARNERS.c.family_name,
    _LEARNERS.c.member_type,
    _LEARNERS.c.member_status,
    _LEARNERS.c.access,
)
_THIS_LEARNER = (_LEARNERS.c.tenant_id == bindparam("tenant_id")) & (
    _LEARNERS.c.member_id == bindparam("member_id")
)
_FIND_LEARNER = Prepared(select(*_VIEW_COLUMNS).where(_THIS_LEARNER))
_LEARNER_PK = Prepared(select(_LEARNERS.c.pk).where(_THIS_LEARNER))
_REFRESH_LEARNER = Prepared(update(_LEARNERS).where(_LEARNERS.c.pk == bindparam("learner_pk")))
"""Sets the columns it is given (``last_sign_on_at`` only when the learner is not denied)."""
_CREATE_LEARNER = Prepared(insert(_LEARNERS))


def provision(
    db: Database, tenant_id: str, identity: Identity, decision: AccessDecision, now: dt.datetime | None = None
) -> LearnerView:
    """Create the learner on first sign-on, refresh them on every later one (keyed on member id).

    Prepared statements in one write transaction: this runs on every sign-on.
    """
    now = now or wall_now()
    values: dict[str, Any] = {name: _clip(name, identity.get(name)) for name in COLUMN_LIMITS}
    values.update(access=decision.access, attributes=identity.attributes, updated_at=now)
    if not decision.denied:
        values["last_sign_on_at"] = now
    with db.prepared_transaction() as transaction:
        found = transaction.first(_LEARNER_PK, {"tenant_id": tenant_id, "member_id": identity.member_id})
        created = found is None
        if created:
            transaction.run(
                _CREATE_LEARNER,
                {"tenant_id": tenant_id, "member_id": identity.member_id, "created_at": now, **values},
            )
        else:
            transaction.run(_REFRESH_LEARNER, {"learner_pk": found.pk, **values})
    return LearnerView(
        member_id=identity.member_id,
        email=values["email"],
        given_name=values["given_name"],
        family_name=values["family_name"],
        member_type=values["member_type"],
        member_status=values["member_status"],
        access=decision.access,
        created=created,
    )


def sign_on(
    db: Database,
    tenant_id: str,
    attributes: Mapping[str, Any],
    sso: SsoSettings,
    policy: AccessPolicy,
    fallback_member_id: str | None,
    purchase_sync: str,
) -> LearnerView:
    """Provision the learner from what the IdP asserted; raises :class:`SignOnRefused` when denied.

    ``purchase_sync`` is the tenant's setting (reconciliation at sign-on runs when it is ``next_sign_on``).
    """
    identity = identity_from_attributes(attributes, sso, fallback_member_id)
    decision = decide_access(identity, policy)
    learner = provision(db, tenant_id, identity, decision)
    if decision.denied:
        raise SignOnRefused(decision.message)
    reconcile_at_sign_on(db, tenant_id, learner.member_id, purchase_sync)
    return learner


def find_learner(db: Database, tenant_id: str, member_id: str) -> LearnerView | None:
    """The learner ``member_id`` of ``tenant_id`` as a snapshot, or None."""
    row = db.first(_FIND_LEARNER, {"tenant_id": tenant_id, "member_id": member_id})
    return None if row is None else LearnerView(*row, created=False)
