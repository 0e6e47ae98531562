"""Deterministic demo data (Faker): personas, organisations and generated members.

The same ``seed`` gives the same people, member ids, emails, organisations and profile fields, byte for
byte; only timestamps and membership dates move, because they are laid out around the tenant's business
"today" so that the nightly membership sweep (:mod:`simulator.ams.jobs`) leaves every seeded status as
it is. Seeding runs inside the caller's transaction and never commits.

Every tenant starts with the fixed personas of :data:`PERSONAS` (password ``demo``), then ``members``
generated people. Generation draws from seeded ``random.Random`` streams over Faker's own en_US word
lists (one stream per concern, so a bigger ``members`` keeps the first people the same), and rows go in
with bulk inserts.

Example::

    with db.session() as session:
        summary = seed_tenant(session, "demo", seed=42, members=200, config=config)
        summary.counts()  # {'personas': 6, 'organisations': 8, 'members': 200}
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from faker import Faker
from faker.providers.address.en_US import Provider as AddressProvider
from faker.providers.person.en_US import Provider as PersonProvider
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from simulator.ams.models import Member, Organisation
from simulator.config import SandboxConfig
from simulator.core.clock import tenant_now
from simulator.core.security import hash_password
from simulator.core.tenancy import get_tenant, tenant_settings

PERSONA_PASSWORD = "demo"  # noqa: S105 - the sandbox's published demo password
FIRST_MEMBER_NUMBER = 100_001
MEMBERS_PER_ORGANISATION = 25
INSERT_CHUNK_SIZE = 2_000
CITY_POOL_SIZE = 150

RECORD_TYPE_SHARES = {"member": 80, "non_member": 15, "prospect": 5}
MEMBER_TYPE_SHARES = {"regular": 70, "student": 12, "retired": 10, "flex": 8}
STATUS_SHARES = {"active": 70, "grace": 8, "lapsed": 15, "inactive": 7}
ORGANISATION_KIND_SHARES = {"hospital": 30, "clinic": 25, "firm": 20, "university": 15, "agency": 10}
IN_ORGANISATION_SHARE = 0.4

EMAIL_DOMAINS = ("example.org", "example.com", "example.net")
AREA_CODES = ("202", "212", "305", "312", "404", "415", "503", "512", "602", "617", "702", "713", "720")
CHAPTERS = ("Northeast", "Mid-Atlantic", "Southeast", "Great Lakes", "Midwest", "Southwest", "Mountain")
CHAPTERS += ("Pacific Northwest", "California", "Texas")
SPECIALTIES = ("Critical Care", "Pediatrics", "Oncology", "Emergency", "Cardiology", "Geriatrics")
SPECIALTIES += ("Public Health", "Informatics", "Education", "Perioperative", "Mental Health", "Primary Care")
CREDENTIALS = ("RN", "RN, BSN", "RN, MSN", "NP", "CNS", "DNP, RN", "LPN", "RN, CCRN")
CONTACT_SHARES = {"email": 70, "phone": 20, "mail": 10}
PROSPECT_SOURCES = ("conference", "webinar", "referral", "website", "purchased list")


@dataclass(frozen=True)
class Persona:
    """A fixed demo account every seeded tenant has."""

    email: str
    given_name: str
    family_name: str
    record_type: str
    member_type: str | None = None
    status: str | None = None
    roles: tuple[str, ...] = ()


PERSONAS = (
    Persona("active.member@demo.test", "Alex", "Active", "member", "regular", "active"),
    Persona("grace.member@demo.test", "Grace", "Period", "member", "regular", "grace"),
    Persona("lapsed.member@demo.test", "Larry", "Lapsed", "member", "regular", "lapsed"),
    Persona("student@demo.test", "Sam", "Student", "member", "student", "active"),
    Persona("nonmember@demo.test", "Nora", "Nonmember", "non_member"),
    Persona("staff@demo.test", "Stacy", "Staff", "member", "regular", "active", ("staff",)),
)


@dataclass
class SeedSummary:
    """What a seeding call created."""

    personas: int = 0
    organisations: int = 0
    members: int = 0

    def counts(self) -> dict[str, int]:
        return {"personas": self.personas, "organisations": self.organisations, "members": self.members}


@dataclass(frozen=True)
class SeedPlan:
    """Everything generation needs, fixed before any row is drawn."""

    tenant_id: str
    seed: int
    members: int
    now: dt.datetime
    today: dt.date
    zone: dt.tzinfo
    grace_days: int
    password_hash: str

    @property
    def organisations(self) -> int:
        if self.members <= 0:
            return 0
        return max(1, round(self.members / MEMBERS_PER_ORGANISATION))


def plan_seed(session: Session, tenant_id: str, seed: int, members: int, config: SandboxConfig) -> SeedPlan:
    """Read the tenant's clock and settings, and hash the demo password once."""
    tenant = get_tenant(session, tenant_id)
    settings = tenant_settings(tenant)
    now = tenant_now(tenant)
    return SeedPlan(
        tenant_id=tenant_id,
        seed=seed,
        members=members,
        now=now,
        today=now.astimezone(settings.zone).date(),
        zone=settings.zone,
        grace_days=settings.membership.grace_days,
        password_hash=hash_password(PERSONA_PASSWORD, config.password_hash_iterations),
    )


def member_id_for(number: int) -> str:
    """The member id of the ``number``-th member (``M100001`` is the first persona)."""
    return f"M{number}"


def membership_dates(
    plan: SeedPlan, status: str, expiry_fraction: float, term_fraction: float
) -> tuple[dt.date, dt.date]:
    """(join_date, expiry_date) for ``status`` that the nightly sweep leaves unchanged.

    active: expiry on or after today; grace: within the grace period (``today - grace_days <= expiry <
    today``; with no grace period, expiry is today); lapsed: before the grace period; inactive: any
    past date. The join date is one to sixteen years before expiry.
    """
    today, grace = plan.today, plan.grace_days
    if status == "active":
        expiry = today + dt.timedelta(days=int(expiry_fraction * 366))
    elif status == "grace":
        expiry = today - dt.timedelta(days=1 + int(expiry_fraction * grace)) if grace else today
    elif status == "lapsed":
        expiry = today - dt.timedelta(days=grace + 1 + int(expiry_fraction * 3 * 365))
    else:
        expiry = today - dt.timedelta(days=1 + int(expiry_fraction * 5 * 365))
    join = expiry - dt.timedelta(days=365 + int(term_fraction * 15 * 365))
    return join, expiry


def _deactivated_at(plan: SeedPlan, expiry: dt.date, fraction: float) -> dt.datetime:
    day = expiry + dt.timedelta(days=int(fraction * (plan.today - expiry).days))
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=plan.zone).astimezone(dt.UTC)
    return min(noon, plan.now)


class Weighted:
    """A weighted choice that costs exactly one ``random()`` draw (keeps streams prefix-stable)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.options = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def pick(self, rng: random.Random) -> str:
        return self.options[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


class _Picker:
    """Choices from one seeded stream, one ``random()`` draw per pick."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def weighted(self, weights: Weighted) -> str:
        return weights.pick(self.rng)

    def one(self, values: Sequence[Any]) -> Any:
        return values[int(self.rng.random() * len(values))]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability


_RECORD_TYPES = Weighted(RECORD_TYPE_SHARES)
_MEMBER_TYPES = Weighted(MEMBER_TYPE_SHARES)
_STATUSES = Weighted(STATUS_SHARES)
_ORGANISATION_KINDS = Weighted(ORGANISATION_KIND_SHARES)
_CONTACTS = Weighted(CONTACT_SHARES)


def _city_pool(seed: int) -> list[tuple[str, str]]:
    fake = Faker("en_US")
    fake.seed_instance(f"{seed}:cities")
    return [(fake.city(), fake.state_abbr(include_territories=False)) for _ in range(CITY_POOL_SIZE)]


def _organisation_name(fake: Faker, pick: _Picker, kind: str, city: str) -> str:
    if kind == "hospital":
        return f"{city} {pick.one(('General Hospital', 'Medical Center', 'Memorial Hospital'))}"
    if kind == "clinic":
        return f"{fake.last_name()} {pick.one(('Family Clinic', 'Health Clinic', 'Care Clinic'))}"
    if kind == "university":
        return pick.one((f"University of {city}", f"{city} State University", f"{city} College"))
    if kind == "agency":
        return f"{fake.company()} Staffing Agency"
    return fake.company()


def organisation_rows(plan: SeedPlan) -> list[dict[str, Any]]:
    """The tenant's organisations, ``ORG-0001`` first (about one per 25 members)."""
    fake = Faker("en_US")
    fake.seed_instance(f"{plan.seed}:organisations")
    pick = _Picker(random.Random(f"{plan.seed}:organisations"))
    cities = _city_pool(plan.seed)
    rows = []
    for number in range(1, plan.organisations + 1):
        kind = pick.weighted(_ORGANISATION_KINDS)
        city, region = pick.one(cities)
        name = _organisation_name(fake, pick, kind, city)
        rows.append(
            {
                "tenant_id": plan.tenant_id,
                "org_id": f"ORG-{number:04d}",
                "name": name[:200],
                "kind": kind,
                "city": city,
                "region": region,
            }
        )
    return rows


def _persona_rows(plan: SeedPlan) -> Iterator[dict[str, Any]]:
    expiry_offsets = {"active": 0.5, "grace": 0.3, "lapsed": 0.1}
    for number, persona in enumerate(PERSONAS, start=FIRST_MEMBER_NUMBER):
        join = expiry = None
        if persona.status is not None:
            join, expiry = membership_dates(plan, persona.status, expiry_offsets[persona.status], 0.1)
        profile: dict[str, Any] = {"preferred_contact": "email"}
        if persona.record_type == "member":
            profile.update(chapter="Northeast", specialty="Education")
        yield _row(
            plan,
            number,
            email=persona.email,
            given_name=persona.given_name,
            family_name=persona.family_name,
            record_type=persona.record_type,
            member_type=persona.member_type,
            status=persona.status,
            join_date=join,
            expiry_date=expiry,
            organisation_pk=None,
            phone=f"+1-617-555-01{number % 100:02d}",
            city="Boston",
            region="MA",
            roles=list(persona.roles),
            profile=profile,
        )


def _row(plan: SeedPlan, number: int, **values: Any) -> dict[str, Any]:
    return {
        "tenant_id": plan.tenant_id,
        "member_id": member_id_for(number),
        "country": "US",
        "password_hash": plan.password_hash,
        "created_at": plan.now,
        "updated_at": plan.now,
        "deactivated_at": None,
        **values,
    }


def _email_local_part(given_name: str, family_name: str) -> str:
    return re.sub(r"[^a-z]", "", given_name.lower()) + "." + re.sub(r"[^a-z]", "", family_name.lower())


def _profile(pick: _Picker, record_type: str, member_type: str | None, region: str) -> dict[str, Any]:
    profile: dict[str, Any] = {"preferred_contact": pick.weighted(_CONTACTS)}
    if record_type == "prospect":
        profile["source"] = pick.one(PROSPECT_SOURCES)
        return profile
    profile["specialty"] = pick.one(SPECIALTIES)
    if record_type != "member":
        return profile
    profile["chapter"] = pick.one(CHAPTERS)
    if member_type == "student":
        profile["credentials"] = "Student"
        return profile
    license_state = region if pick.chance(0.85) else pick.one(AddressProvider.states_abbr)
    profile["credentials"] = pick.one(CREDENTIALS)
    profile["license_state"] = license_state
    profile["license_number"] = f"{license_state}-{int(pick.rng.random() * 9_000_000) + 1_000_000}"
    return profile


def _generated_rows(plan: SeedPlan, organisation_pks: Sequence[int]) -> Iterator[dict[str, Any]]:
    cities = _city_pool(plan.seed)
    first_names, last_names = Weighted(PersonProvider.first_names), Weighted(PersonProvider.last_names)
    people = _Picker(random.Random(f"{plan.seed}:people"))
    dates = random.Random(f"{plan.seed}:dates")
    emails: set[str] = set()
    for index in range(plan.members):
        given, family = people.weighted(first_names), people.weighted(last_names)
        local_part = _email_local_part(given, family)
        while True:
            email = f"{local_part}.{int(people.rng.random() * 9900) + 100}@{people.one(EMAIL_DOMAINS)}"
            if email not in emails:
                emails.add(email)
                break
        record_type = people.weighted(_RECORD_TYPES)
        member_type = people.weighted(_MEMBER_TYPES) if record_type == "member" else None
        status = people.weighted(_STATUSES) if record_type == "member" else None
        city, region = people.one(cities)
        in_organisation = people.chance(IN_ORGANISATION_SHARE)
        organisation_index = int(people.rng.random() * max(len(organisation_pks), 1))
        phone = f"+1-{people.one(AREA_CODES)}-555-01{int(people.rng.random() * 100):02d}"
        profile = _profile(people, record_type, member_type, region)
        expiry_fraction, term_fraction, deactivated_fraction = dates.random(), dates.random(), dates.random()
        join = expiry = deactivated_at = None
        if status is not None:
            join, expiry = membership_dates(plan, status, expiry_fraction, term_fraction)
            if status == "inactive":
                deactivated_at = _deactivated_at(plan, expiry, deactivated_fraction)
        yield _row(
            plan,
            FIRST_MEMBER_NUMBER + len(PERSONAS) + index,
            email=email,
            given_name=given,
            family_name=family,
            record_type=record_type,
            member_type=member_type,
            status=status,
            join_date=join,
            expiry_date=expiry,
            organisation_pk=organisation_pks[organisation_index]
            if in_organisation and organisation_pks
            else None,
            phone=phone,
            city=city,
            region=region,
            roles=[],
            profile=profile,
            deactivated_at=deactivated_at,
        )


def member_rows(plan: SeedPlan, organisation_pks: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Insertable member rows: the personas, then ``plan.members`` generated people.

    ``organisation_pks`` are the primary keys of :func:`organisation_rows`, in the same order.
    """
    yield from _persona_rows(plan)
    yield from _generated_rows(plan, organisation_pks)


def bulk_insert(
    session: Session, table: Table, rows: Iterable[dict[str, Any]], chunk_size: int = INSERT_CHUNK_SIZE
) -> int:
    """Insert ``rows`` into ``table`` in executemany chunks (Core, no ORM objects); returns the count."""
    inserted = 0
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, chunk_size)):
        session.execute(insert(table), chunk)
        inserted += len(chunk)
    return inserted


def seed_tenant(
    session: Session, tenant_id: str, seed: int, members: int, config: SandboxConfig
) -> SeedSummary:
    """Add the personas, organisations and ``members`` generated people to an empty tenant.

    Runs in the caller's transaction (never commits). Reseeding is clearing the tenant's data first
    (:func:`simulator.console.service.reseed_tenant`).
    """
    plan = plan_seed(session, tenant_id, seed, members, config)
    organisations = organisation_rows(plan)
    bulk_insert(session, Organisation.__table__, organisations)
    owned = select(Organisation.org_id, Organisation.pk).where(Organisation.tenant_id == tenant_id)
    pk_by_org_id = {org_id: pk for org_id, pk in session.execute(owned)}
    organisation_pks = [pk_by_org_id[row["org_id"]] for row in organisations]
    inserted = bulk_insert(session, Member.__table__, member_rows(plan, organisation_pks))
    return SeedSummary(
        personas=len(PERSONAS), organisations=len(organisations), members=inserted - len(PERSONAS)
    )
