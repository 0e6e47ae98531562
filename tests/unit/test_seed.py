"""Deterministic seeding: the same seed gives the same world, laid out around the tenant's business day."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from simulator.ams.jobs import sweep_memberships
from simulator.ams.models import Member, Organisation
from simulator.cli import main
from simulator.config import SandboxConfig
from simulator.console import service
from simulator.core.clock import pinned_clock
from simulator.core.db import Database
from simulator.core.jobs import JobContext
from simulator.core.models import Tenant
from simulator.core.security import verify_password
from simulator.core.settings import TenantSettings
from simulator.seed import PERSONAS

IDENTITY = (
    "member_id", "email", "given_name", "family_name", "record_type", "member_type", "status",
    "phone", "city", "region", "country", "roles", "profile",
)  # fmt: skip
MOMENT = dt.datetime(2030, 1, 1, 4, 30, tzinfo=dt.UTC)  # still 31 December in New York


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def seed(
    db: Database,
    config: SandboxConfig,
    tenant_id: str,
    seed: int,
    members: int,
    at: dt.datetime | None = MOMENT,
    settings: dict[str, Any] | None = None,
) -> dict[str, int]:
    with ExitStack() as stack:
        if at is not None:
            stack.enter_context(pinned_clock(tenant_id, at))
        _, _, summary = service.create_seeded_tenant(
            db, config, tenant_id, settings=settings, seed=seed, members=members
        )
    return summary.counts()


def snapshot(db: Database, tenant_id: str, with_dates: bool = True) -> dict[str, list[Any]]:
    """Everything seeded for a tenant, minus row keys, password salts and (optionally) dates."""
    with db.read() as session:
        orgs = {
            o.pk: o for o in session.scalars(select(Organisation).where(Organisation.tenant_id == tenant_id))
        }
        members = []
        for member in session.scalars(
            select(Member).where(Member.tenant_id == tenant_id).order_by(Member.pk)
        ):
            row = {column: getattr(member, column) for column in IDENTITY}
            row["organisation"] = orgs[member.organisation_pk].org_id if member.organisation_pk else None
            if with_dates:
                row.update(
                    join_date=member.join_date,
                    expiry_date=member.expiry_date,
                    deactivated_at=member.deactivated_at,
                )
            members.append(row)
    organisations = sorted((o.org_id, o.name, o.kind, o.city, o.region) for o in orgs.values())
    return {"members": members, "organisations": organisations}


def test_the_same_seed_gives_the_same_world(db: Database, config: SandboxConfig) -> None:
    seed(db, config, "first", seed=7, members=300)
    seed(db, config, "second", seed=7, members=300)
    first = snapshot(db, "first")
    assert first == snapshot(db, "second")
    assert len(first["members"]) == 306
    assert len(first["organisations"]) == 12


def test_people_do_not_depend_on_the_clock_but_dates_follow_it(db: Database, config: SandboxConfig) -> None:
    seed(db, config, "now", seed=7, members=200)
    seed(db, config, "later", seed=7, members=200, at=MOMENT + dt.timedelta(days=400))
    assert snapshot(db, "now", with_dates=False) == snapshot(db, "later", with_dates=False)
    now_dates = [m["expiry_date"] for m in snapshot(db, "now")["members"] if m["expiry_date"]]
    later_dates = [m["expiry_date"] for m in snapshot(db, "later")["members"] if m["expiry_date"]]
    assert {later - now for now, later in zip(now_dates, later_dates, strict=True)} == {
        dt.timedelta(days=400)
    }


def test_a_different_seed_gives_different_people(db: Database, config: SandboxConfig) -> None:
    seed(db, config, "seven", seed=7, members=100)
    seed(db, config, "eight", seed=8, members=100)
    seven, eight = snapshot(db, "seven"), snapshot(db, "eight")
    generated_seven = {m["email"] for m in seven["members"][len(PERSONAS) :]}
    generated_eight = {m["email"] for m in eight["members"][len(PERSONAS) :]}
    assert len(generated_seven & generated_eight) < 5
    assert seven["organisations"] != eight["organisations"]
    personas = [p.email for p in PERSONAS]
    assert [m["email"] for m in seven["members"][:6]] == personas
    assert [m["email"] for m in eight["members"][:6]] == personas


def test_more_members_keeps_the_first_people(db: Database, config: SandboxConfig) -> None:
    seed(db, config, "small", seed=3, members=20)
    seed(db, config, "big", seed=3, members=60)
    small = snapshot(db, "small", with_dates=False)["members"]
    big = snapshot(db, "big", with_dates=False)["members"][: len(small)]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "organisation"} for r in rows]  # noqa: E731
    assert strip(small) == strip(big)


def test_every_tenant_gets_the_personas_first(db: Database, config: SandboxConfig) -> None:
    assert seed(db, config, "acme", seed=1, members=0) == {"personas": 6, "organisations": 0, "members": 0}
    with db.read() as session:
        people = {m.email: m for m in session.scalars(select(Member).where(Member.tenant_id == "acme"))}
    assert list(people) == [p.email for p in PERSONAS]
    expected = {
        "active.member@demo.test": ("M100001", "Alex Active", "member", "regular", "active", []),
        "grace.member@demo.test": ("M100002", "Grace Period", "member", "regular", "grace", []),
        "lapsed.member@demo.test": ("M100003", "Larry Lapsed", "member", "regular", "lapsed", []),
        "student@demo.test": ("M100004", "Sam Student", "member", "student", "active", []),
        "nonmember@demo.test": ("M100005", "Nora Nonmember", "non_member", None, None, []),
        "staff@demo.test": ("M100006", "Stacy Staff", "member", "regular", "active", ["staff"]),
    }
    for email, (member_id, name, record_type, member_type, status, roles) in expected.items():
        person = people[email]
        assert (person.member_id, f"{person.given_name} {person.family_name}") == (member_id, name)
        assert (person.record_type, person.member_type, person.status, person.roles) == (
            record_type, member_type, status, roles,
        )  # fmt: skip
        assert verify_password("demo", person.password_hash)
    assert people["nonmember@demo.test"].expiry_date is None
    assert len({p.password_hash for p in people.values()}) == 1, "the demo password is hashed once"


def test_two_thousand_members_have_a_realistic_mix(db: Database, config: SandboxConfig) -> None:
    counts = seed(db, config, "acme", seed=11, members=2000)
    assert counts == {"personas": 6, "organisations": 80, "members": 2000}
    with db.read() as session:
        generated = list(
            session.scalars(select(Member).where(Member.tenant_id == "acme").order_by(Member.pk).offset(6))
        )
    share = lambda counter, key: counter[key] / sum(counter.values())  # noqa: E731
    record_types = Counter(m.record_type for m in generated)
    members = [m for m in generated if m.record_type == "member"]
    member_types = Counter(m.member_type for m in members)
    statuses = Counter(m.status for m in members)
    for counter, expected in (
        (record_types, {"member": 0.80, "non_member": 0.15, "prospect": 0.05}),
        (member_types, {"regular": 0.70, "student": 0.12, "retired": 0.10, "flex": 0.08}),
        (statuses, {"active": 0.70, "grace": 0.08, "lapsed": 0.15, "inactive": 0.07}),
    ):
        assert set(counter) == set(expected)
        for key, target in expected.items():
            assert abs(share(counter, key) - target) < 0.04, (key, share(counter, key))
    assert all(m.member_type is None and m.status is None for m in generated if m.record_type != "member")
    in_org = sum(1 for m in generated if m.organisation_pk is not None) / len(generated)
    assert 0.35 < in_org < 0.45
    emails = [m.email for m in generated]
    assert len(set(emails)) == len(emails)
    assert all(e == e.lower() and e.rsplit("@", 1)[1].startswith("example.") for e in emails)
    assert all(m.country == "US" and m.phone and m.city and m.region for m in generated)
    assert all({"chapter", "specialty", "preferred_contact"} <= set(m.profile) for m in members)
    assert [m.member_id for m in generated[:2]] == ["M100007", "M100008"]


@pytest.mark.parametrize("grace_days", [30, 10, 0])
def test_seeded_statuses_match_dates_and_survive_the_nightly_sweep(
    db: Database, config: SandboxConfig, grace_days: int
) -> None:
    settings = {"membership": {"grace_days": grace_days}}
    seed(db, config, "acme", seed=5, members=1500, settings=settings)
    today = dt.date(2029, 12, 31)  # MOMENT in America/New_York
    lapse_before = today - dt.timedelta(days=grace_days)
    with db.read() as session:
        members = list(
            session.scalars(select(Member).where(Member.tenant_id == "acme", Member.record_type == "member"))
        )
    for member in members:
        assert member.join_date < member.expiry_date
        assert member.created_at == member.updated_at == MOMENT
        if member.status == "active":
            assert member.expiry_date >= today
        elif member.status == "grace":
            assert lapse_before <= member.expiry_date <= today
            assert member.expiry_date < today or grace_days == 0
        elif member.status == "lapsed":
            assert member.expiry_date < lapse_before
        else:
            assert member.expiry_date < today
            assert member.deactivated_at is not None and member.deactivated_at <= MOMENT
    assert min(m.expiry_date for m in members if m.status == "active") == today
    with db.session() as session, pinned_clock("acme", MOMENT):
        tenant = session.get(Tenant, "acme")
        context = JobContext(session, tenant, TenantSettings.model_validate(tenant.settings), None)  # type: ignore[arg-type]
        assert sweep_memberships(context) == {"to_grace": 0, "to_lapsed": 0, "date": today.isoformat()}


def test_seeding_again_replaces_the_tenants_data(db: Database, config: SandboxConfig) -> None:
    seed(db, config, "acme", seed=1, members=100)
    first = snapshot(db, "acme")
    with pinned_clock("acme", MOMENT):
        assert service.reseed_tenant(db, config, "acme", seed=2, members=30).counts() == {
            "personas": 6, "organisations": 1, "members": 30,
        }  # fmt: skip
    second = snapshot(db, "acme")
    assert len(second["members"]) == 36 and second != first
    with pinned_clock("acme", MOMENT):
        service.reseed_tenant(db, config, "acme", seed=1, members=100)
    assert snapshot(db, "acme") == first
    with db.read() as session:
        assert session.scalar(select(func.count(Member.pk))) == 106
        assert session.scalar(select(func.count(Organisation.pk))) == 4
        assert session.get(Tenant, "acme").seed == 1


def test_the_seed_command_creates_and_reseeds_a_tenant(tmp_path: Path) -> None:
    env = {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    args = ["seed", "--tenant", "t", "--members", "50", "--seed", "7"]
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert "Seeded tenant 't' with seed 7: 6 personas, 2 organisations, 50 members in" in first.output
    assert "Created tenant 't'. Its API key (shown once): sbx_t_" in first.output
    again = CliRunner().invoke(main, args, env=env)
    assert again.exit_code == 0, again.output
    assert "6 personas, 2 organisations, 50 members" in again.output and "Created" not in again.output
    database = Database(f"sqlite:///{tmp_path}/cli.db")
    with database.read() as session:
        assert session.scalar(select(func.count(Member.pk)).where(Member.tenant_id == "t")) == 56
    database.dispose()
