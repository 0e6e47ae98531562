"""The control API: tenants, keys and settings, as a connector's CI would drive them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, bearer

PROBLEM = "application/problem+json"


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def test_create_returns_the_key_once_and_lists_the_tenant(console: Any) -> None:
    response = console.post(
        "/api/tenants", json={"id": "acme", "name": "ACME Society", "seed": 3}, headers=ADMIN
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["api_key"].startswith("sbx_acme_")
    assert response.headers["Location"] == "/api/tenants/acme"
    fetched = console.get("/api/tenants/acme", headers=ADMIN).get_json()
    assert fetched["name"] == "ACME Society"
    assert "api_key" not in fetched
    assert [t["id"] for t in console.get("/api/tenants", headers=ADMIN).get_json()["tenants"]] == ["acme"]


def test_creating_a_tenant_twice_is_a_conflict(console: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    response = console.post("/api/tenants", json={"id": "acme"}, headers=ADMIN)
    assert response.status_code == 409
    assert response.get_json()["code"] == "tenant_exists"


@pytest.mark.parametrize("tenant_id", ["ACME", "-acme", "a" * 64, "api", "with space", ""])
def test_bad_tenant_ids_are_refused(console: Any, tenant_id: str) -> None:
    response = console.post("/api/tenants", json={"id": tenant_id}, headers=ADMIN)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert console.get("/api/tenants", headers=ADMIN).get_json()["tenants"] == []


def test_invalid_settings_at_creation_create_nothing(console: Any) -> None:
    response = console.post(
        "/api/tenants", json={"id": "acme", "settings": {"sso": {"protocol": "x"}}}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "sso.protocol"
    assert console.get("/api/tenants/acme", headers=ADMIN).status_code == 404


def test_keys_are_required_and_scoped(console: Any, make_tenant: Any) -> None:
    acme, other = make_tenant("acme"), make_tenant("other")
    assert console.get("/api/tenants").status_code == 401
    assert console.get("/api/tenants", headers=bearer("nope")).status_code == 401
    assert console.get("/api/tenants", headers={"Authorization": "Basic abc"}).status_code == 401
    visible = console.get("/api/tenants", headers=acme.auth).get_json()["tenants"]
    assert [t["id"] for t in visible] == ["acme"]
    for path in ("/api/tenants/other", "/api/tenants/other/settings", "/api/tenants/other/clock"):
        response = console.get(path, headers=acme.auth)
        assert response.status_code == 404, path
        assert response.get_json()["code"] == "tenant_not_found"
    assert console.post("/api/tenants/other/reset", headers=acme.auth).status_code == 404
    assert (
        console.patch("/api/tenants/other/settings", json={"currency": "EUR"}, headers=acme.auth).status_code
        == 404
    )
    assert console.get("/api/tenants/other/settings", headers=other.auth).get_json()["currency"] == "USD"


def test_only_the_admin_creates_and_deletes(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    assert console.post("/api/tenants", json={"id": "evil"}, headers=acme.auth).status_code == 403
    assert console.delete("/api/tenants/acme", headers=acme.auth).status_code == 403
    assert console.delete("/api/tenants/acme", headers=ADMIN).status_code == 204
    assert console.get("/api/tenants/acme", headers=ADMIN).status_code == 404
    assert console.get("/api/tenants", headers=acme.auth).status_code == 401


def test_unknown_tenant_is_a_404_problem(console: Any) -> None:
    for method, path in [
        ("get", "/api/tenants/ghost"),
        ("post", "/api/tenants/ghost/reset"),
        ("get", "/api/tenants/ghost/settings"),
        ("delete", "/api/tenants/ghost"),
    ]:
        response = getattr(console, method)(path, headers=ADMIN)
        assert response.status_code == 404, path
        assert response.content_type == PROBLEM
        assert response.get_json()["code"] == "tenant_not_found"


def test_settings_patch_merges_and_invalid_patch_changes_nothing(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    url = "/api/tenants/acme/settings"
    response = console.patch(
        url, json={"sso": {"protocol": "oidc"}, "purchase_sync": "next_sign_on"}, headers=acme.auth
    )
    assert response.status_code == 200
    assert response.get_json()["sso"]["protocol"] == "oidc"
    before = console.get(url, headers=acme.auth).get_json()
    bad = console.patch(
        url, json={"purchase_sync": "by_carrier_pigeon", "currency": "EUR"}, headers=acme.auth
    )
    assert bad.status_code == 422
    assert bad.content_type == PROBLEM
    assert bad.get_json()["errors"][0]["field"] == "purchase_sync"
    assert console.get(url, headers=acme.auth).get_json() == before


def test_settings_patch_needs_a_json_object(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    response = console.patch(
        "/api/tenants/acme/settings",
        data="not json",
        headers={**acme.auth, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"
    response = console.patch("/api/tenants/acme/settings", json=[1, 2], headers=acme.auth)
    assert response.status_code == 422


def test_reset_restores_settings_and_clock_and_keeps_the_key(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme", settings={"currency": "CAD"}, seed=5)
    console.patch("/api/tenants/acme/settings", json={"currency": "EUR"}, headers=acme.auth)
    console.post("/api/tenants/acme/clock/advance", json={"days": 10}, headers=acme.auth)
    response = console.post("/api/tenants/acme/reset", headers=acme.auth)
    assert response.status_code == 200
    assert console.get("/api/tenants/acme/settings", headers=acme.auth).get_json()["currency"] == "CAD"
    assert abs(console.get("/api/tenants/acme/clock", headers=acme.auth).get_json()["offset_seconds"]) < 1


def test_rotating_the_key_retires_the_old_one(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    new_key = console.post("/api/tenants/acme/api-key", headers=acme.auth).get_json()["api_key"]
    assert console.get("/api/tenants/acme", headers=acme.auth).status_code == 401
    assert console.get("/api/tenants/acme", headers=bearer(new_key)).status_code == 200


def test_settings_schema_is_published(console: Any) -> None:
    schema = console.get("/api/schema/settings").get_json()
    assert schema["title"] == "Tenant settings"
    assert "sso" in schema["properties"]


def test_errors_never_leak_a_traceback(console: Any) -> None:
    response = console.post("/api/tenants/acme/clock/advance", json={"days": "soon"}, headers=ADMIN)
    assert response.status_code in (404, 422)
    assert "Traceback" not in response.get_data(as_text=True)
    response = console.get("/no/such/page")
    assert response.status_code == 404
    assert response.content_type == PROBLEM


def test_a_new_tenant_has_its_nightly_membership_sweep_waiting(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    pending = console.get("/api/tenants/acme/clock", headers=acme.auth).get_json()["pending_jobs"]
    assert sorted(job["kind"] for job in pending) == ["ams.catalog_import", "ams.membership_sweep"]


def test_secrets_in_settings_are_write_only(console: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    patch = {
        "sso": {"oidc_client_secret": "s3cr3t-client-value"},
        "writeback": {
            "external_endpoint": {"url": "http://127.0.0.1:9/in", "secret": "whsec_0123456789abcdef"}
        },
    }
    response = console.patch("/api/tenants/acme/settings", json=patch, headers=acme.auth)
    assert response.status_code == 200
    for body in (
        response.get_data(as_text=True),
        console.get("/api/tenants/acme/settings", headers=acme.auth).get_data(as_text=True),
    ):
        assert "s3cr3t-client-value" not in body
        assert "whsec_0123456789abcdef" not in body
    shown = console.get("/api/tenants/acme/settings", headers=acme.auth).get_json()
    assert shown["sso"]["oidc_client_secret"] == "[redacted]"
    assert shown["writeback"]["external_endpoint"]["url"] == "http://127.0.0.1:9/in"
    console.patch("/api/tenants/acme/settings", json={"currency": "EUR"}, headers=acme.auth)
    from simulator.core.models import Tenant

    with console.application.extensions["sandbox"].db.read() as session:
        assert session.get(Tenant, "acme").settings["sso"]["oidc_client_secret"] == "s3cr3t-client-value"
