"""Just-in-time provisioning and member-status gating at the LMS, through real signed SAML responses."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from simulator.core.db import Database
from simulator.core.settings import AccessPolicy, SsoSettings
from simulator.lms.models import Learner
from simulator.lms.sso.provisioning import decide_access, identity_from_attributes
from tests.sso.sp_support import SamlWorld, page_code, patch_settings

pytest_plugins = ["tests.sso.sp_fixtures"]

PREFIX = "urn:ams-lms-sandbox:attribute:"


def learners(db: Database) -> list[Learner]:
    with db.read() as session:
        return list(session.scalars(select(Learner).where(Learner.tenant_id == "acme").order_by(Learner.pk)))


def sign_in(world: SamlWorld, **attributes: str) -> Any:
    spec = world.spec()
    for name, value in attributes.items():
        key = {"email": "urn:oid:0.9.2342.19200300.100.1.3", "given_name": "urn:oid:2.5.4.42"}.get(
            name, PREFIX + name
        )
        spec.attributes[key] = value
    response = world.post(world.idp.signed_response(spec))
    return response


def test_the_first_sign_on_creates_the_learner_and_the_next_refreshes_them(
    saml_world: SamlWorld, db: Database
) -> None:
    assert learners(db) == []
    assert sign_in(saml_world).status_code == 302
    first = learners(db)
    assert [(row.member_id, row.given_name, row.member_status) for row in first] == [
        ("M1001", "Ada", "active")
    ]
    assert first[0].last_sign_on_at is not None
    assert first[0].attributes[PREFIX + "member_type"] == ["regular"]

    assert sign_in(saml_world, given_name="Augusta", member_status="grace").status_code == 302

    second = learners(db)
    assert len(second) == 1
    assert (second[0].given_name, second[0].member_status, second[0].access) == ("Augusta", "grace", "full")
    assert second[0].created_at == first[0].created_at
    assert second[0].last_sign_on_at > first[0].last_sign_on_at


def test_identity_follows_the_member_id_when_the_email_changes(saml_world: SamlWorld, db: Database) -> None:
    assert sign_in(saml_world).status_code == 302
    assert sign_in(saml_world, email="ada.king@example.org").status_code == 302
    assert sign_in(saml_world, member_id="M2002").status_code == 302  # another person, old email

    rows = learners(db)
    assert [(row.member_id, row.email) for row in rows] == [
        ("M1001", "ada.king@example.org"),
        ("M2002", "ada@example.org"),
    ]
    assert saml_world.me().get_json()["member_id"] == "M2002"


@pytest.mark.parametrize(
    ("policy", "attributes", "expected"),
    [
        ({}, {"member_status": "lapsed"}, "denied"),
        ({"lapsed": "read_only"}, {"member_status": "lapsed"}, "read_only"),
        ({"lapsed": "full"}, {"member_status": "lapsed"}, "full"),
        ({}, {"member_status": "inactive"}, "denied"),
        ({"grace": "read_only"}, {"member_status": "grace"}, "read_only"),
        ({}, {"record_type": "non_member", "member_status": ""}, "full"),
        ({"non_members": "restricted"}, {"record_type": "non_member"}, "restricted"),
        ({"non_members": "deny"}, {"record_type": "non_member"}, "denied"),
        ({}, {"record_type": "prospect"}, "denied"),
        ({}, {"access": "restricted"}, "restricted"),
        ({"lapsed": "read_only"}, {"member_status": "lapsed", "access": "restricted"}, "restricted"),
    ],
)
def test_access_follows_the_tenant_policy_and_the_idp(
    saml_world: SamlWorld, db: Database, policy: dict[str, str], attributes: dict[str, str], expected: str
) -> None:
    if policy:
        patch_settings(saml_world.console, "acme", {"access": policy})

    response = sign_in(saml_world, **attributes)

    [learner] = learners(db)
    assert learner.access == expected
    if expected == "denied":
        assert response.status_code == 403
        assert page_code(response) == "access_denied"
        assert "Try again" not in response.get_data(as_text=True)
        assert "learning portal" in response.get_data(as_text=True)
        assert saml_world.me().status_code == 401
    else:
        assert response.status_code == 302
        assert saml_world.me().get_json()["access"] == expected


def test_a_learner_who_lapses_loses_the_session_at_the_next_sign_on(saml_world: SamlWorld) -> None:
    assert sign_in(saml_world).status_code == 302
    assert saml_world.me().status_code == 200

    assert sign_in(saml_world, member_status="lapsed").status_code == 403

    assert saml_world.me().status_code == 401


def test_a_refused_sign_on_refreshes_the_learner_but_not_the_last_sign_on(
    saml_world: SamlWorld, db: Database
) -> None:
    assert sign_in(saml_world).status_code == 302
    [before] = learners(db)

    assert sign_in(saml_world, given_name="Augusta", member_status="lapsed").status_code == 403

    [after] = learners(db)
    assert (after.given_name, after.member_status) == ("Augusta", "lapsed")
    assert after.last_sign_on_at == before.last_sign_on_at


def test_renamed_attributes_are_read_by_uri_name_or_friendly_name(
    saml_world: SamlWorld, db: Database
) -> None:
    patch_settings(
        saml_world.console,
        "acme",
        {
            "sso": {
                "attribute_names": {"member_id": "urn:imis:ContactId", "member_status": "MembershipStatus"}
            }
        },
    )
    spec = saml_world.spec(
        attributes={
            "urn:imis:ContactId": "C-77",
            "urn:custom:status": "active",
            "urn:oid:0.9.2342.19200300.100.1.3": "grace@example.org",
        },
        friendly_names={"urn:custom:status": "MembershipStatus"},
    )

    assert saml_world.post(saml_world.idp.signed_response(spec)).status_code == 302

    [learner] = learners(db)
    assert (learner.member_id, learner.member_status, learner.email) == (
        "C-77",
        "active",
        "grace@example.org",
    )


def test_without_a_member_id_attribute_the_name_id_identifies_the_learner(
    saml_world: SamlWorld, db: Database
) -> None:
    spec = saml_world.spec(name_id="M3003", attributes={"urn:oid:2.5.4.42": "Grace"})

    assert saml_world.post(saml_world.idp.signed_response(spec)).status_code == 302

    assert [(row.member_id, row.given_name) for row in learners(db)] == [("M3003", "Grace")]


def test_learners_of_one_tenant_are_not_another_tenants(saml_world: SamlWorld, db: Database) -> None:
    assert sign_in(saml_world).status_code == 302
    with db.read() as session:
        counts = dict(
            session.execute(select(Learner.tenant_id, func.count()).group_by(Learner.tenant_id)).all()
        )
    assert counts == {"acme": 1}


def test_oidc_claims_and_saml_attributes_map_to_the_same_identity() -> None:
    sso = SsoSettings(attribute_names={"member_type": "imis_type"})
    claims = {"sub": "opaque", "member_id": "M1", "email": "a@b.c", "imis_type": "student"}
    saml = {PREFIX + "member_id": ["M1"], "mail": ["a@b.c"], "imis_type": ["student"]}

    from_claims = identity_from_attributes(claims, sso, fallback_member_id="opaque")
    from_saml = identity_from_attributes(saml, sso, fallback_member_id="name-id")

    assert from_claims.member_id == from_saml.member_id == "M1"
    assert from_claims.get("member_type") == from_saml.get("member_type") == "student"
    assert from_claims.get("email") == from_saml.get("email") == "a@b.c"


def test_an_unknown_access_value_from_the_idp_is_treated_as_restricted() -> None:
    identity = identity_from_attributes({"member_id": "M1", "access": "platinum"}, SsoSettings(), None)

    assert decide_access(identity, AccessPolicy()).access == "restricted"
