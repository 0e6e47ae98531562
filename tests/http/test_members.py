"""The AMS member directory API, as a connector would use it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from simulator.ams.models import Member
from simulator.core.db import Database
from simulator.core.security import verify_password
from tests.conftest import ADMIN, TenantHandle

PROBLEM = "application/problem+json"
MEMBERS = "/t/acme/api/members"


@pytest.fixture
def acme(make_tenant: Any) -> TenantHandle:
    return make_tenant("acme", members=60, seed=5)


@pytest.fixture
def api(ams: Any, acme: TenantHandle) -> Any:
    """The AMS test client, sending acme's key on every call."""

    class Api:
        def __getattr__(self, method: str) -> Any:
            def call(url: str, **kwargs: Any) -> Any:
                return getattr(ams, method)(url, headers=acme.auth, **kwargs)

            return call

    return Api()


def all_members(api: Any, query: str = "", limit: int = 500) -> list[dict[str, Any]]:
    members, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        body = api.get(f"{MEMBERS}?limit={limit}{suffix}{query}").get_json()
        members += body["members"]
        cursor = body["next_cursor"]
        if cursor is None:
            return members


def person(email: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "given_name": "Pat", "family_name": "Doe", **fields}


def problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["code"] == code
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


def test_listing_pages_through_every_member_once_in_a_stable_order(api: Any) -> None:
    first = api.get(f"{MEMBERS}?limit=10").get_json()
    assert first["total"] == 66 and len(first["members"]) == 10 and first["next_cursor"]
    paged = all_members(api, limit=7)
    ids = [m["member_id"] for m in paged]
    assert len(ids) == 66 == len(set(ids))
    assert ids == sorted(ids) and ids[0] == "M100001"
    assert [m["member_id"] for m in first["members"]] == ids[:10]
    assert api.get(f"{MEMBERS}?limit=66").get_json()["next_cursor"] is None
    assert all("password_hash" not in m and "password" not in m for m in paged)


def test_default_page_is_fifty(api: Any) -> None:
    body = api.get(MEMBERS).get_json()
    assert len(body["members"]) == 50 and body["next_cursor"]


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("status=grace", lambda m: m["status"] == "grace"),
        ("member_type=student", lambda m: m["member_type"] == "student"),
        ("record_type=non_member", lambda m: m["record_type"] == "non_member" and m["status"] is None),
        ("email=ACTIVE.MEMBER@demo.test", lambda m: m["email"] == "active.member@demo.test"),
        ("q=sTaCy", lambda m: m["given_name"] == "Stacy"),
        ("organisation=ORG-0001", lambda m: m["organisation"]["org_id"] == "ORG-0001"),
    ],
)
def test_filters_narrow_the_list(api: Any, query: str, check: Any) -> None:
    body = api.get(f"{MEMBERS}?limit=500&{query}").get_json()
    assert body["members"] and body["total"] == len(body["members"]) < 66
    assert all(check(m) for m in body["members"])


def test_filters_combine_and_name_search_spans_given_and_family_names(api: Any) -> None:
    assert [m["email"] for m in all_members(api, "&q=larry lap")] == ["lapsed.member@demo.test"]
    assert all_members(api, "&q=%25") == []  # a literal percent sign, not a wildcard
    both = all_members(api, "&status=active&member_type=student")
    assert both and all(m["status"] == "active" and m["member_type"] == "student" for m in both)
    organisation_total = api.get("/t/acme/api/organisations").get_json()["organisations"][0]["member_count"]
    assert len(all_members(api, "&organisation=ORG-0001")) == organisation_total
    assert all_members(api, "&organisation=ORG-9999") == []


def test_updated_since_returns_what_changed(api: Any, console: Any) -> None:
    now = dt.datetime.fromisoformat(console.get("/api/tenants/acme/clock", headers=ADMIN).get_json()["now"])
    earlier = (now - dt.timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert len(all_members(api, f"&updated_since={earlier}")) == 66
    later = (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")  # no zone: UTC
    assert all_members(api, f"&updated_since={later}") == []
    console.post("/api/tenants/acme/clock/advance", json={"hours": 2}, headers=ADMIN)
    api.patch(f"{MEMBERS}/M100010", json={"city": "Salem"})
    assert [m["member_id"] for m in all_members(api, f"&updated_since={later}")] == ["M100010"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("status=dormant", "status"),
        ("record_type=alien", "record_type"),
        ("updated_since=yesterday", "updated_since"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eyJhZnRlciI6LTF9", "cursor"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_list_queries_are_422_naming_the_field(api: Any, query: str, field: str) -> None:
    problem(api.get(f"{MEMBERS}?{query}"), 422, "validation_failed", field)


def test_get_one_member(api: Any) -> None:
    response = api.get(f"{MEMBERS}/M100002")
    assert response.status_code == 200
    member = response.get_json()
    assert member["email"] == "grace.member@demo.test" and member["status"] == "grace"
    assert set(member) == {
        "member_id", "email", "given_name", "family_name", "record_type", "member_type", "status",
        "join_date", "expiry_date", "organisation", "phone", "city", "region", "country", "roles",
        "profile", "created_at", "updated_at", "deactivated_at",
    }  # fmt: skip
    with_org = all_members(api, "&organisation=ORG-0001")[0]
    assert api.get(f"{MEMBERS}/{with_org['member_id']}").get_json()["organisation"]["name"]


def test_unknown_member_is_404(api: Any) -> None:
    body = problem(api.get(f"{MEMBERS}/M999999"), 404, "member_not_found")
    assert "M999999" in body["detail"]


def test_create_a_member_with_defaults(api: Any, db: Database) -> None:
    response = api.post(MEMBERS, json=person(" Pat.Doe@Example.ORG"))
    assert response.status_code == 201, response.get_json()
    member = response.get_json()
    assert member["member_id"] == "M100067"
    assert response.headers["Location"] == "/t/acme/api/members/M100067"
    assert (member["email"], member["record_type"], member["member_type"], member["status"]) == (
        "pat.doe@example.org", "member", "regular", "active",
    )  # fmt: skip
    assert member["join_date"] < member["expiry_date"]
    assert api.get(response.headers["Location"]).get_json() == member
    assert api.get(MEMBERS).get_json()["total"] == 67


def test_create_with_everything_given(api: Any, db: Database) -> None:
    body = {
        "email": "lee@example.net",
        "given_name": "Lee",
        "family_name": "Nguyen",
        "member_id": "EXT-42",
        "record_type": "member",
        "member_type": "retired",
        "status": "lapsed",
        "join_date": "2001-02-03",
        "expiry_date": "2020-12-31",
        "organisation": "ORG-0002",
        "country": "CA",
        "roles": ["board"],
        "profile": {"chapter": "Ontario"},
        "password": "s3cret",
    }
    member = api.post(MEMBERS, json=body).get_json()
    assert member["member_id"] == "EXT-42" and member["organisation"]["org_id"] == "ORG-0002"
    assert (member["expiry_date"], member["roles"], member["profile"]) == (
        "2020-12-31",
        ["board"],
        {"chapter": "Ontario"},
    )
    with db.read() as session:
        stored = session.scalar(select(Member).where(Member.member_id == "EXT-42"))
        assert verify_password("s3cret", stored.password_hash)
    assert api.post(MEMBERS, json=person("n@example.org")).get_json()["member_id"] == "M100067"


def test_a_non_member_has_no_membership(api: Any) -> None:
    created = api.post(MEMBERS, json=person("nm@example.org", record_type="non_member")).get_json()
    assert (created["member_type"], created["status"], created["expiry_date"]) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"given_name": "A", "family_name": "B"}, "email"),
        (person("not-an-email"), "email"),
        ({"email": "a@example.org", "family_name": "B"}, "given_name"),
        (person("a@example.org", record_type="vip"), "record_type"),
        (person("a@example.org", status="gold"), "status"),
        (person("a@example.org", record_type="prospect", member_type="regular"), "member_type"),
        (person("a@example.org", record_type="non_member", status="active"), "status"),
        (person("a@example.org", organisation="ORG-9999"), "organisation"),
        (person("a@example.org", join_date="2030-01-01", expiry_date="2029-01-01"), "join_date"),
        (person("a@example.org", member_id="has space"), "member_id"),
        (person("a@example.org", shoe_size=9), "shoe_size"),
    ],
)
def test_invalid_creates_are_422_and_write_nothing(api: Any, body: dict[str, Any], field: str) -> None:
    problem(api.post(MEMBERS, json=body), 422, "validation_failed", field)
    assert api.get(MEMBERS).get_json()["total"] == 66


def test_duplicate_email_or_member_id_is_409(api: Any) -> None:
    taken = person("Active.Member@DEMO.test")
    problem(api.post(MEMBERS, json=taken), 409, "email_taken")
    same_id = {"email": "fresh@example.org", "given_name": "A", "family_name": "B", "member_id": "M100003"}
    problem(api.post(MEMBERS, json=same_id), 409, "member_id_taken")
    assert api.get(MEMBERS).get_json()["total"] == 66


def test_malformed_json_is_400(api: Any) -> None:
    problem(api.post(MEMBERS, data="{nope", content_type="application/json"), 400, "invalid_json")


def test_created_and_updated_stamps_follow_the_business_clock(api: Any, console: Any) -> None:
    console.post("/api/tenants/acme/clock/freeze", headers=ADMIN)
    clock = console.post("/api/tenants/acme/clock/advance", json={"days": 90}, headers=ADMIN).get_json()
    member = api.post(MEMBERS, json=person("c@example.org")).get_json()
    assert member["created_at"] == member["updated_at"] == clock["now"]
    assert member["join_date"] == clock["local_now"][:10]
    console.post("/api/tenants/acme/clock/advance", json={"days": 1}, headers=ADMIN)
    updated = api.patch(f"{MEMBERS}/{member['member_id']}", json={"phone": "+1-555-0100"}).get_json()
    assert dt.datetime.fromisoformat(updated["updated_at"]) - dt.datetime.fromisoformat(
        clock["now"]
    ) == dt.timedelta(days=1)


def test_patch_changes_only_what_is_sent(api: Any) -> None:
    before = api.get(f"{MEMBERS}/M100001").get_json()
    response = api.patch(
        f"{MEMBERS}/M100001",
        json={"city": "Salem", "profile": {"chapter": "Coastal"}, "organisation": "ORG-0001"},
    )
    assert response.status_code == 200
    after = response.get_json()
    assert (after["city"], after["profile"], after["organisation"]["org_id"]) == (
        "Salem",
        {"chapter": "Coastal"},
        "ORG-0001",
    )
    unchanged = {k: v for k, v in after.items() if k not in {"city", "profile", "organisation", "updated_at"}}
    assert unchanged == {
        k: v for k, v in before.items() if k not in {"city", "profile", "organisation", "updated_at"}
    }
    assert api.get(f"{MEMBERS}/M100001").get_json() == after
    cleared = api.patch(f"{MEMBERS}/M100001", json={"organisation": None, "phone": None}).get_json()
    assert (cleared["organisation"], cleared["phone"]) == (None, None)


def test_patch_email_and_password(api: Any, db: Database) -> None:
    updated = api.patch(
        f"{MEMBERS}/M100001", json={"email": "Alex@Example.org", "password": "new"}
    ).get_json()
    assert updated["email"] == "alex@example.org"
    with db.read() as session:
        assert verify_password(
            "new", session.scalar(select(Member.password_hash).where(Member.member_id == "M100001"))
        )
    problem(api.patch(f"{MEMBERS}/M100001", json={"email": "staff@demo.test"}), 409, "email_taken")
    assert api.get(f"{MEMBERS}/M100001").get_json()["email"] == "alex@example.org"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": None}, "email"),
        ({"email": "nope"}, "email"),
        ({"given_name": ""}, "given_name"),
        ({"status": "frozen"}, "status"),
        ({"record_type": "non_member"}, "member_type"),
        ({"member_type": None}, "member_type"),
        ({"join_date": "2999-01-01"}, "join_date"),
        ({"organisation": "ORG-9999"}, "organisation"),
        ({"member_id": "M1"}, "member_id"),
    ],
)
def test_invalid_patches_are_422_and_change_nothing(api: Any, body: dict[str, Any], field: str) -> None:
    before = api.get(f"{MEMBERS}/M100001").get_json()
    problem(api.patch(f"{MEMBERS}/M100001", json=body), 422, "validation_failed", field)
    assert api.get(f"{MEMBERS}/M100001").get_json() == before


def test_turning_a_member_into_a_non_member_clears_the_membership_explicitly(api: Any) -> None:
    body = {"record_type": "non_member", "member_type": None, "status": None}
    changed = api.patch(f"{MEMBERS}/M100001", json=body).get_json()
    assert (changed["record_type"], changed["member_type"], changed["status"]) == ("non_member", None, None)


def test_deactivate(api: Any, console: Any) -> None:
    response = api.post(f"{MEMBERS}/M100001/deactivate")
    assert response.status_code == 200
    member = response.get_json()
    now = console.get("/api/tenants/acme/clock", headers=ADMIN).get_json()["now"]
    assert member["status"] == "inactive"
    assert abs(
        dt.datetime.fromisoformat(member["deactivated_at"]) - dt.datetime.fromisoformat(now)
    ) < dt.timedelta(seconds=5)
    assert api.post(f"{MEMBERS}/M100001/deactivate").get_json() == member
    assert "M100001" in [m["member_id"] for m in all_members(api, "&status=inactive")]
    non_member = api.post(f"{MEMBERS}/M100005/deactivate").get_json()
    assert non_member["status"] is None and non_member["deactivated_at"]
    reactivated = api.patch(f"{MEMBERS}/M100001", json={"status": "active"}).get_json()
    assert reactivated["status"] == "active" and reactivated["deactivated_at"] is None


def test_member_writes_on_unknown_members_are_404(api: Any) -> None:
    problem(api.patch(f"{MEMBERS}/M999999", json={"city": "X"}), 404, "member_not_found")
    problem(api.post(f"{MEMBERS}/M999999/deactivate"), 404, "member_not_found")
    problem(api.delete(f"{MEMBERS}/M999999"), 404, "member_not_found")


def test_a_person_without_records_is_deleted_with_their_cart(api: Any) -> None:
    created = api.post(MEMBERS, json=person("passing.by@example.org", member_id="TEMP-1")).get_json()
    assert created["member_id"] == "TEMP-1"
    course = api.get("/t/acme/api/products").get_json()["items"][0]["code"]
    assert api.post(f"{MEMBERS}/TEMP-1/cart/items", json={"product_code": course}).status_code == 200

    assert api.delete(f"{MEMBERS}/TEMP-1").status_code == 204

    problem(api.get(f"{MEMBERS}/TEMP-1"), 404, "member_not_found")
    assert "passing.by@example.org" not in {m["email"] for m in all_members(api)}
    again = api.post(MEMBERS, json=person("passing.by@example.org", member_id="TEMP-1")).get_json()
    assert api.get(f"{MEMBERS}/TEMP-1/cart").get_json()["lines"] == []
    assert again["member_id"] == "TEMP-1"


def test_a_person_with_an_order_is_not_deleted(api: Any) -> None:
    course = api.get("/t/acme/api/products").get_json()["items"][0]["code"]
    assert api.post(f"{MEMBERS}/M100001/cart/items", json={"product_code": course}).status_code == 200
    card = api.post(
        "/t/acme/gateway/v1/tokens",
        json={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
    ).get_json()["id"]
    checkout = api.post(f"{MEMBERS}/M100001/cart/checkout", json={"payment": {"card_token": card}})
    assert checkout.status_code == 201, checkout.get_json()

    problem(api.delete(f"{MEMBERS}/M100001"), 409, "member_has_records")
    assert api.get(f"{MEMBERS}/M100001").status_code == 200


def test_organisations_are_paged(api: Any) -> None:
    first = api.get("/t/acme/api/organisations?limit=1").get_json()
    assert first["total"] == 2 and len(first["organisations"]) == 1
    second = api.get(f"/t/acme/api/organisations?limit=1&cursor={first['next_cursor']}").get_json()
    assert second["next_cursor"] is None
    organisations = first["organisations"] + second["organisations"]
    assert [o["org_id"] for o in organisations] == ["ORG-0001", "ORG-0002"]
    assert all(
        o["name"] and o["kind"] in {"hospital", "clinic", "firm", "university", "agency"}
        for o in organisations
    )
    people = sum(1 for m in all_members(api) if m["organisation"])
    assert sum(o["member_count"] for o in organisations) == people
    problem(api.get("/t/acme/api/organisations?limit=0"), 422, "validation_failed", "limit")
