"""No member API lets one tenant's key see or change another tenant's people."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, TenantHandle, bearer

PROBLEM = "application/problem+json"
NEW_PERSON = {"email": "intruder@example.org", "given_name": "In", "family_name": "Truder"}


def endpoints(tenant_id: str, member_id: str = "M100001") -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, url, json body) for every member directory endpoint of ``tenant_id``."""
    base = f"/t/{tenant_id}/api"
    return [
        ("get", f"{base}/members", None),
        ("get", f"{base}/members?email=active.member@demo.test", None),
        ("get", f"{base}/members/{member_id}", None),
        ("post", f"{base}/members", NEW_PERSON),
        ("patch", f"{base}/members/{member_id}", {"city": "Elsewhere"}),
        ("post", f"{base}/members/{member_id}/deactivate", None),
        ("delete", f"{base}/members/{member_id}", None),
        ("get", f"{base}/organisations", None),
    ]


def call(client: Any, method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    return (
        getattr(client, method)(url, json=body, headers=headers)
        if body
        else getattr(client, method)(url, headers=headers)
    )


def everything(ams: Any, tenant_id: str) -> dict[str, Any]:
    """All of a tenant's members and organisations, read with the admin key."""
    members = ams.get(f"/t/{tenant_id}/api/members?limit=500", headers=ADMIN).get_json()
    organisations = ams.get(f"/t/{tenant_id}/api/organisations?limit=500", headers=ADMIN).get_json()
    assert members["next_cursor"] is None
    return {"members": members["members"], "organisations": organisations["organisations"]}


@pytest.fixture
def tenants(make_tenant: Any) -> tuple[TenantHandle, TenantHandle]:
    return make_tenant("alpha", members=30, seed=1), make_tenant("bravo", members=30, seed=2)


def test_another_tenants_key_is_refused_on_every_endpoint(ams: Any, tenants: Any) -> None:
    _, bravo = tenants
    before = everything(ams, "alpha")
    for method, url, body in endpoints("alpha"):
        response = call(ams, method, url, body, bravo.auth)
        assert response.status_code == 404, (method, url, response.get_json())
        assert response.content_type == PROBLEM
        assert response.get_json()["code"] == "tenant_not_found"
    assert everything(ams, "alpha") == before
    assert "intruder@example.org" not in {m["email"] for m in everything(ams, "bravo")["members"]}


def test_a_tenants_urls_never_reach_another_tenants_members(ams: Any, tenants: Any) -> None:
    alpha, bravo = tenants
    created = ams.post(
        "/t/bravo/api/members",
        json={
            "email": "only.bravo@example.org",
            "given_name": "Only",
            "family_name": "Bravo",
            "member_id": "B-1",
        },
        headers=bravo.auth,
    )
    assert created.status_code == 201
    before = everything(ams, "alpha")
    for method, url, body in endpoints("alpha", member_id="B-1"):
        if "B-1" not in url:
            continue
        response = call(ams, method, url, body, alpha.auth)
        assert response.status_code == 404, (method, url)
        assert response.get_json()["code"] == "member_not_found"
    search = ams.get("/t/alpha/api/members?email=only.bravo@example.org", headers=alpha.auth).get_json()
    assert search == {"members": [], "next_cursor": None, "total": 0}
    assert ams.get("/t/alpha/api/members?q=only.bravo", headers=alpha.auth).get_json()["total"] == 0
    assert everything(ams, "alpha") == before
    assert (
        ams.get("/t/bravo/api/members/B-1", headers=bravo.auth).get_json()["email"]
        == "only.bravo@example.org"
    )


def test_shared_member_and_organisation_ids_resolve_within_the_tenant(ams: Any, tenants: Any) -> None:
    alpha, bravo = tenants
    alpha_people = {m["email"] for m in everything(ams, "alpha")["members"]}
    bravo_people = {m["email"] for m in everything(ams, "bravo")["members"]}
    assert ams.get("/t/alpha/api/members/M100020", headers=alpha.auth).get_json()["email"] in alpha_people
    assert ams.get("/t/bravo/api/members/M100020", headers=bravo.auth).get_json()["email"] in bravo_people
    in_org = ams.get("/t/alpha/api/members?organisation=ORG-0001&limit=500", headers=alpha.auth).get_json()
    assert in_org["members"] and {m["email"] for m in in_org["members"]} <= alpha_people
    assert ams.get("/t/alpha/api/members?limit=500", headers=alpha.auth).get_json()["total"] == 36
    ams.post("/t/bravo/api/members", json=NEW_PERSON, headers=bravo.auth)
    assert ams.get("/t/alpha/api/members", headers=alpha.auth).get_json()["total"] == 36


def test_admin_key_opens_every_tenant(ams: Any, tenants: Any) -> None:
    for tenant_id in ("alpha", "bravo"):
        assert ams.get(f"/t/{tenant_id}/api/members/M100001", headers=ADMIN).status_code == 200


@pytest.mark.parametrize("headers", [{}, bearer("sbx_alpha_wrong"), {"Authorization": "Basic YTpi"}])
def test_no_valid_key_is_401_on_every_endpoint(ams: Any, tenants: Any, headers: dict[str, str]) -> None:
    before = everything(ams, "alpha")
    for method, url, body in endpoints("alpha"):
        response = call(ams, method, url, body, headers)
        assert response.status_code == 401, (method, url)
        assert response.content_type == PROBLEM
        assert response.get_json()["code"] == "unauthorized"
    assert everything(ams, "alpha") == before


@pytest.mark.parametrize("tenant_id", ["ghost", "ALPHA", "a" * 70, "al%20pha", "-x"])
def test_an_unknown_tenant_is_404_never_500(ams: Any, tenants: Any, tenant_id: str) -> None:
    alpha, _ = tenants
    for headers in ({}, alpha.auth, ADMIN):
        for method, url, body in endpoints(tenant_id):
            response = call(ams, method, url, body, headers)
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.content_type == PROBLEM
            assert response.get_json()["code"] == "tenant_not_found"
