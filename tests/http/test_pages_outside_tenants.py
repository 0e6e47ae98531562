"""What a person sees on the AMS and the LMS outside a tenant's own pages: each tenant wears its own name,
an unknown tenant is one clear "no such tenant" 404, and `/` points the way to the tenants. JSON clients
and API paths get JSON throughout."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.console.service import ensure_demo_tenant
from tests.conftest import ADMIN

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON_CLIENT = {"Accept": "application/json"}
DEMO_NAME = "Demo Professional Association"
CONSOLE_URL = "http://127.0.0.1:8000"

GHOST_PAGES = {
    "ams": [
        "/t/ghost/",
        "/t/ghost/login",
        "/t/ghost/store",
        "/t/ghost/saml/metadata",
        "/t/ghost/no/such/page",
    ],
    "lms": ["/t/ghost/", "/t/ghost/login", "/t/ghost/learning", "/t/ghost/no/such/page"],
}


def page_of(response: Any) -> str:
    assert response.mimetype == "text/html", response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def patch_branding(console: Any, tenant_id: str, branding: dict[str, Any]) -> None:
    response = console.patch(f"/api/tenants/{tenant_id}/settings", json={"branding": branding}, headers=ADMIN)
    assert response.status_code == 200, response.get_json()


# --- a tenant's own name --------------------------------------------------------------------------------


def test_a_new_tenants_pages_carry_its_name_and_initials(ams: Any, lms: Any, make_tenant: Any) -> None:
    make_tenant("acme", name="Acme Nurses Guild")

    login = page_of(ams.get("/t/acme/login"))
    home = page_of(lms.get("/t/acme/"))

    assert "<title>Sign in — Acme Nurses Guild</title>" in login and ">ANG<" in login
    assert "<title>Acme Nurses Guild learning portal</title>" in home
    assert DEMO_NAME not in login + home


def test_a_tenant_without_a_name_carries_its_id(ams: Any, make_tenant: Any) -> None:
    make_tenant("bravo-clinics")

    login = page_of(ams.get("/t/bravo-clinics/login"))

    assert "Sign in — bravo-clinics" in login and ">BC<" in login and DEMO_NAME not in login


def test_the_settings_rename_a_tenant_and_removing_the_names_gives_its_own_back(
    ams: Any, console: Any, make_tenant: Any
) -> None:
    make_tenant("acme", name="Acme Nurses Guild")

    patch_branding(console, "acme", {"association_name": "Acme Health Society"})
    renamed = page_of(ams.get("/t/acme/login"))
    patch_branding(console, "acme", {"association_name": None, "short_name": None})
    restored = page_of(ams.get("/t/acme/login"))

    assert "Sign in — Acme Health Society" in renamed
    assert "Sign in — Acme Nurses Guild" in restored and ">ANG<" in restored


def test_the_demo_tenant_still_wears_the_demo_associations_name(
    ams: Any, config: Any, db: Any, console: Any
) -> None:
    ensure_demo_tenant(db, config)

    login = page_of(ams.get("/t/demo/login"))

    assert f"Sign in — {DEMO_NAME}" in login and ">DPA<" in login


# --- no such tenant -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "path"), [(app, path) for app, paths in GHOST_PAGES.items() for path in paths]
)
def test_an_unknown_tenant_is_a_no_such_tenant_page_for_a_browser(
    ams: Any, lms: Any, app: str, path: str
) -> None:
    response = {"ams": ams, "lms": lms}[app].get(path, headers=BROWSER)

    page = page_of(response)
    assert response.status_code == 404
    assert "<h1>No such tenant</h1>" in page and "There is no tenant &#39;ghost&#39;" in page
    assert 'href="/t/demo/"' in page and f'href="{CONSOLE_URL}"' in page
    assert DEMO_NAME not in page and "sign you in" not in page


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", None, "application/json, text/plain, */*", "text/html;q=0.5, */*"]
)
@pytest.mark.parametrize(
    ("app", "path"), [(app, path) for app, paths in GHOST_PAGES.items() for path in paths]
)
def test_an_unknown_tenant_is_problem_json_for_a_json_client(
    ams: Any, lms: Any, app: str, path: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = {"ams": ams, "lms": lms}[app].get(path, headers=headers)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "tenant_not_found"
    assert "ghost" in response.get_json()["detail"]


@pytest.mark.parametrize(("app", "path"), [("ams", "/t/ghost/api/members"), ("lms", "/t/ghost/api/courses")])
def test_an_unknown_tenants_api_is_problem_json_even_for_a_browser(
    ams: Any, lms: Any, app: str, path: str
) -> None:
    response = {"ams": ams, "lms": lms}[app].get(path, headers={**BROWSER, **ADMIN})

    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "tenant_not_found"


WRONG_METHODS = [
    ("ams", "post", "/t/ghost/"),
    ("ams", "delete", "/t/ghost/login"),
    ("ams", "get", "/t/ghost/oidc/token"),
    ("ams", "put", "/t/ghost/saml/sso"),
    ("lms", "get", "/t/ghost/saml/acs"),
    ("lms", "post", "/t/ghost/learning"),
    ("lms", "options", "/t/ghost/"),
    ("ams", "options", "/t/ghost/store"),
]
"""Requests a route of the path exists for, with a method it does not take (or Flask's own OPTIONS)."""


@pytest.mark.parametrize(("app", "method", "path"), WRONG_METHODS)
def test_an_unknown_tenant_is_a_404_whatever_the_method(
    ams: Any, lms: Any, app: str, method: str, path: str
) -> None:
    client = {"ams": ams, "lms": lms}[app]

    for_json = getattr(client, method)(path, headers=JSON_CLIENT)
    for_browser = getattr(client, method)(path, headers=BROWSER)

    assert (for_json.status_code, for_json.mimetype) == (404, "application/problem+json")
    assert for_json.get_json()["code"] == "tenant_not_found"
    assert (for_browser.status_code, for_browser.mimetype) == (404, "text/html")
    assert "<h1>No such tenant</h1>" in for_browser.get_data(as_text=True)


def test_a_wrong_method_of_a_known_tenant_is_still_a_405(lms: Any, make_tenant: Any) -> None:
    make_tenant("acme")

    response = lms.get("/t/acme/saml/acs", headers=JSON_CLIENT)

    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"


def test_an_unknown_page_of_a_known_tenant_is_still_a_plain_404(ams: Any, make_tenant: Any) -> None:
    make_tenant("acme")

    response = ams.get("/t/acme/no/such/page", headers=JSON_CLIENT)

    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


# --- the root -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["ams", "lms"])
def test_the_root_points_a_browser_to_the_tenants(ams: Any, lms: Any, app: str) -> None:
    response = {"ams": ams, "lms": lms}[app].get("/", headers=BROWSER)

    page = page_of(response)
    assert response.status_code == 200
    assert 'href="/t/demo/"' in page and f'href="{CONSOLE_URL}"' in page and "/t/{tenant}/" in page


@pytest.mark.parametrize("app", ["ams", "lms"])
def test_the_root_answers_a_json_client_with_the_same_links(ams: Any, lms: Any, app: str) -> None:
    response = {"ams": ams, "lms": lms}[app].get("/", headers=JSON_CLIENT)

    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert (document["app"], document["demo"], document["console"]) == (app, "/t/demo/", CONSOLE_URL)
    assert document["tenant_pages"] == "/t/{tenant}/"
