"""No API lets one tenant's key see or change another tenant's data.

The member directory's refusals are spelled out first; then every operation of the three served
OpenAPI documents is aimed, with tenant B's key, at tenant A's real objects (a new endpoint is covered
without a new test); last, A's SAML IdP and OIDC provider refuse an SP and a client registered only in B.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from simulator.ams.idp.testing import SamlTestSp, form_fields
from simulator.core.models import Tenant
from simulator.core.security import digest_key
from tests.conftest import ADMIN, TenantHandle, bearer, fresh_postgres_schema
from tests.helpers import isolation
from tests.helpers.isolation_world import BODY_HINTS, A, B, World, two_tenant_world

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


# --- generated from the served OpenAPI documents: every operation of the console, the AMS and the LMS ---

IDS_PER_OPERATION = 2
PUBLIC_BY_DESIGN = {
    "lms GET /t/{tenant}/login": "starts a sign-in at the tenant's IdP for any browser",
    "lms GET /t/{tenant}/saml/metadata": "the SP's metadata: the same for every caller",
    "lms GET /t/{tenant}/logout": "signs the browser out of the LMS; no key is involved",
    "lms POST /t/{tenant}/logout": "signs the browser out of the LMS; no key is involved",
}
"""Tenant pages anyone may call: B's key must not bring B's data into them, nor change A."""
MAY_ADD = {
    "ams POST /t/{tenant}/writeback/records": ("ams_inbox_entries", "'rejected'"),
    "lms GET /t/{tenant}/login": ("lms_saml_requests", ""),
}
"""Rows a call may add to A whoever makes it, and a text each new row holds: the writeback inbox lists
every refused delivery (for A's integrator to see); a sign-in started at A's LMS waits for its response."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("isolation")
    with contextlib.ExitStack() as stack:
        url = (
            f"sqlite:///{tmp_path / 'sandbox.db'}"
            if request.param == "sqlite"
            else stack.enter_context(fresh_postgres_schema())
        )
        yield stack.enter_context(two_tenant_world(tmp_path, url))


def _call(client: Any, op: isolation.Operation, url: str, body: Any, headers: dict[str, str]) -> Any:
    payload = {"content_type": body[0], "data": body[1]} if body else {}
    return client.open(url, method=op.method.upper(), headers=headers, **payload)


def _aimed_at(world: World, op: isolation.Operation, owner: str, other: str) -> list[dict[str, Any]]:
    """Up to IDS_PER_OPERATION sets of path values naming ``owner``'s objects, those ``other`` lacks first."""
    found, theirs = world.found[owner][op.app], world.found[other][op.app]
    choices = []
    for param in op.params:
        values = found.candidates(op, param)
        foreign = [value for value in values if value not in theirs.candidates(op, param)]
        choices.append(foreign + [value for value in values if value not in foreign] or ["iso-probe"])
    count = min(IDS_PER_OPERATION, max(map(len, choices), default=1))
    return [
        {param: options[i % len(options)] for param, options in zip(op.params, choices, strict=True)}
        for i in range(count)
    ]


def _filler(world: World, op: isolation.Operation, owner: str, other: str) -> Any:
    """Body fields naming other objects (``*_id``, ``*_code``) get ``owner``'s values, foreign first."""
    found, theirs = world.found[owner][op.app], world.found[other][op.app]

    def fill(name: str) -> Any:
        if not re.fullmatch(r"\w+_(id|code)", name) or name not in found.by_key:
            return None
        values = found.by_key[name]
        return next((v for v in values if v not in theirs.by_key.get(name, [])), values[0])

    return fill


def _still_valid(world: World) -> None:
    """B's key still opens B: the refusals seen were about A, not a dead key."""
    assert world.clients["console"].get(f"/api/tenants/{B}", headers=world.auth(B)).status_code == 200


def _keep_own_key(world: World, response: Any) -> None:
    """B may rotate or revoke its own key: carry on with the key it was given, or one the admin issues
    (a dead key would turn every later probe into a 401 that proves nothing)."""
    with world.db.read() as session:
        stored = session.get(Tenant, B).api_key_hash
    if stored == digest_key(world.keys[B]):
        return
    offered = (response.get_json(silent=True) or {}).get("api_key")
    if not isinstance(offered, str) or digest_key(offered) != stored:
        offered = (
            world.clients["console"].post(f"/api/tenants/{B}/api-key", headers=ADMIN).get_json()["api_key"]
        )
    world.keys[B] = offered


def _changed(op: isolation.Operation, before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """A's tables the call changed, leaving out the rows :data:`MAY_ADD` lets it add."""
    if str(op) not in MAY_ADD:
        return isolation.changes(before, after)
    table, marker = MAY_ADD[str(op)]
    unexpected = [row for row in set(after[table]) - set(before[table]) if marker not in row]
    return isolation.changes(before, after, logs=frozenset({table})) + ([table] if unexpected else [])


@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_every_operation_under_another_tenants_url_refuses_the_key(world: World, app: str) -> None:
    """B's key on A's URLs, aimed at A's real objects: 404 as if A did not exist (403 where only the
    admin key may act), never a 2xx, never a change to A; A's public pages show nothing of B."""
    client, failures = world.clients[app], []
    b_only = world.only_in(B, A)
    rows = isolation.tenant_rows(world.db, A)
    for op in (op for op in world.operations[app] if op.tenant_scoped):
        for values in _aimed_at(world, op, A, B):
            url, body = op.url(A, values), op.body(_filler(world, op, A, B), BODY_HINTS.get(str(op)))
            if op.method == "get" and op.params and op.secured:
                control = client.get(url, headers=ADMIN)
                if control.status_code != 200:
                    failures.append(f"{op} {url}: the admin key gets {control.status_code}: no real object")
            response = _call(client, op, url, body, world.auth(B))
            status, problem = response.status_code, response.get_json(silent=True) or {}
            if str(op) in PUBLIC_BY_DESIGN:
                if leaks := isolation.leaked(response, b_only, B, url):
                    failures.append(f"{op} {url}: A's public page shows B's {leaks}")
            elif op.secured:
                expected = {404: "tenant_not_found", 403: "admin_key_required"}
                if expected.get(status) != problem.get("code"):
                    failures.append(
                        f"{op} {url}: {status} {problem.get('code')}, expected 404 tenant_not_found"
                    )
            elif not 400 <= status < 500:
                failures.append(f"{op} {url}: {status} without the operation's own credential")
        now = isolation.tenant_rows(world.db, A)
        if changed := _changed(op, rows, now):
            failures.append(f"{op}: changed A's {changed}")
        rows = now
    _still_valid(world)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_no_operation_under_a_tenants_own_url_reaches_another_tenants_objects(world: World, app: str) -> None:
    """B's key on B's URLs (or on URLs without a tenant), aimed at A's real objects: reading an object
    only A has is a 404, nothing answers with A's data, nothing changes A."""
    client, failures = world.clients[app], []
    a_only = world.only_in(A, B)
    rows = isolation.tenant_rows(world.db, A)
    for op in world.operations[app]:
        for values in _aimed_at(world, op, A, B):
            url, body = op.url(B, values), op.body(_filler(world, op, A, B), BODY_HINTS.get(str(op)))
            response = _call(client, op, url, body, world.auth(B))
            status, sent = response.status_code, url + (body[1].decode() if body else "")
            foreign = [
                value
                for param, value in values.items()
                if value in world.found[A][app].candidates(op, param)
                and value not in world.found[B][app].candidates(op, param)
            ]
            if status >= 500 or (status == 401 and op.secured):
                failures.append(f"{op} {url}: {status}")
            elif status < 300 and (leaks := isolation.leaked(response, a_only, A, sent)):
                failures.append(f"{op} {url}: {status} with A's {leaks}")
            elif status < 300 and op.method == "get" and foreign:
                failures.append(f"{op} {url}: {status} for A's {foreign}, expected 404")
            _keep_own_key(world, response)
        now = isolation.tenant_rows(world.db, A)
        if changed := _changed(op, rows, now):
            failures.append(f"{op}: changed A's {changed}")
        rows = now
    _still_valid(world)
    assert not failures, "\n".join(failures)


# --- sign-on: A's IdP and OP serve only what A registered ---

PERSONA = {"email": "active.member@demo.test", "password": "demo"}


def _signed_in(world: World, tenant: str) -> httpx.Client:
    """A browser on the AMS, signed in to ``tenant`` as its active member persona."""
    browser = httpx.Client(
        transport=httpx.WSGITransport(app=world.clients["ams"].application), base_url=world.config.ams_url
    )
    assert browser.post(f"/t/{tenant}/login", data=PERSONA).status_code == 303
    return browser


def _posts_an_assertion(page: httpx.Response, sp: SamlTestSp) -> bool:
    """Does the page auto-post a SAMLResponse to the SP's ACS?"""
    try:
        action, fields = form_fields(page.text)
    except AssertionError:  # no form: a refusal page
        return False
    return action == sp.settings["sp"]["assertionConsumerService"]["url"] and "SAMLResponse" in fields


def test_a_tenants_saml_idp_refuses_an_sp_registered_only_in_another_tenant(world: World) -> None:
    console, browser = world.clients["console"], _signed_in(world, A)
    keys = console.get(f"/api/tenants/{A}/keys", headers=ADMIN).get_json()["keys"]
    certificates = ["".join(k["certificate_pem"].splitlines()[1:-1]) for k in keys if k["state"] == "active"]
    sps = {
        tenant: SamlTestSp.create(
            world.config.ams_url,
            A,  # both SPs address A's IdP: only where each is registered differs
            certificates,
            entity_id=f"https://sp.{tenant}-only.example.org/metadata",
            acs_url=f"https://sp.{tenant}-only.example.org/acs",
        )
        for tenant in (A, B)
    }
    for tenant, sp in sps.items():
        registered = console.post(
            f"/api/tenants/{tenant}/saml/service-providers",
            json={"metadata_xml": sp.metadata()},
            headers=ADMIN,
        )
        assert registered.status_code == 201, registered.get_json()

    def sso(sp: SamlTestSp) -> httpx.Response:
        _, saml_request = sp.authn_request(deflate=True)
        return browser.get(f"/t/{A}/saml/sso?{urlencode({'SAMLRequest': saml_request, 'RelayState': 'x'})}")

    assert _posts_an_assertion(sso(sps[A]), sps[A])  # the same request from A's own SP is answered
    assert not _posts_an_assertion(sso(sps[B]), sps[B])
    unsolicited = browser.get(
        f"/t/{A}/saml/idp-initiated?{urlencode({'sp': sps[B].settings['sp']['entityId']})}"
    )
    assert not _posts_an_assertion(unsolicited, sps[B])
    assert "SAMLResponse" not in unsolicited.text


def _authorize(browser: httpx.Client, tenant: str, client: dict[str, Any]) -> tuple[httpx.Response, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "openid email",
        "state": "st",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return browser.get(f"/t/{tenant}/oidc/authorize?{urlencode(query)}"), verifier


def _code(response: httpx.Response, client: dict[str, Any]) -> str | None:
    """The code the authorization response hands the client's redirect URI, if any."""
    location = response.headers.get("Location", "")
    if response.status_code != 302 or not location.startswith(client["redirect_uris"][0]):
        return None
    return parse_qs(urlsplit(location).query).get("code", [None])[0]


def test_a_tenants_oidc_provider_refuses_a_client_registered_only_in_another_tenant(world: World) -> None:
    console = world.clients["console"]
    clients = {}
    for tenant in (A, B):
        body = {"client_name": "RP", "redirect_uris": [f"https://rp.{tenant}-only.example.org/callback"]}
        registered = console.post(f"/api/tenants/{tenant}/oidc/clients", json=body, headers=ADMIN)
        assert registered.status_code == 201, registered.get_json()
        clients[tenant] = registered.get_json()
    alpha, bravo = _signed_in(world, A), _signed_in(world, B)

    assert _code(_authorize(alpha, A, clients[A])[0], clients[A])  # A's own client gets a code
    assert _code(_authorize(alpha, A, clients[B])[0], clients[B]) is None

    response, verifier = _authorize(bravo, B, clients[B])
    code = _code(response, clients[B])
    assert code  # a code B's provider issued to B's client …
    grant = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": clients[B]["redirect_uris"][0],
        "code_verifier": verifier,
    }
    credentials = (clients[B]["client_id"], clients[B]["client_secret"])
    refused = alpha.post(f"/t/{A}/oidc/token", data=grant, auth=credentials)
    assert refused.status_code in (400, 401)  # … is no token at A's provider
    assert "access_token" not in refused.text
    tokens = bravo.post(f"/t/{B}/oidc/token", data=grant, auth=credentials)
    assert tokens.status_code == 200, tokens.text  # and was a good one at B's
    access = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert alpha.get(f"/t/{A}/oidc/userinfo", headers=access).status_code == 401
    assert bravo.get(f"/t/{B}/oidc/userinfo", headers=access).status_code == 200
