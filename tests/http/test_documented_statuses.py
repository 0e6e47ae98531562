"""Every status an OpenAPI document declares is one the operation really answers, or justified here.

A document that promises a 402 nobody can cause misleads a client's author as much as one that hides a
500. For every (operation, status) of the three served documents this test makes the request that gets
that answer, and checks the answer's status:

- **mechanically**, for what every operation of its kind answers: a success from a valid call (the
  world's real ids, a minimal valid body), 401 without a key, 404 for an unknown tenant or id, 400 for a
  body that is not JSON, 415 for one not declared JSON, 422 for one (or a query parameter) that does not
  validate, 429 for a client locked out by its wrong keys (a test of its own);
- with a **witness** from :data:`WITNESSES`, a request made by hand for a status of one operation;
- or it is **justified** in :data:`JUSTIFIED`, with the reason no in-process request reaches it and the
  test that does.

A table entry for a status no document declares fails too, so the tables follow the documents.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from simulator.ams.app import create_app as ams_app
from simulator.console.app import create_app as console_app
from simulator.core.db import Database
from simulator.core.webhooks import sign_headers
from simulator.lms.app import create_app as lms_app
from simulator.lms.commerce.models import AmsLink
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.helpers import isolation
from tests.helpers.isolation_world import BODY_HINTS, BUYERS, CARD, A, B, World, two_tenant_world
from tests.writeback.test_writeback_inbox import envelope

Case = tuple[str, str, str, str]
"""(app, METHOD, path template, status)"""
Witness = Callable[[World], Any]

APPS = {"console": console_app, "ams": ams_app, "lms": lms_app}
UNKNOWN = "no-such-thing"
LOCKED_OUT = "10.20.30.40"
"""The address the 429 test locks out (the other tests call from 127.0.0.1)."""


def _throwaway(world: World) -> str:
    """A new tenant of its own, for a call that would take the world's tenant apart."""
    tenant = f"gone-{next(_SERIALS)}"
    created = world.clients["console"].post("/api/tenants", json={"id": tenant, "members": 2}, headers=ADMIN)
    assert created.status_code == 201, created.get_json()
    return tenant


_SERIALS = itertools.count(1)


def _on_throwaway(method: str, path: str, body: Any = None) -> Witness:
    return lambda world: world.clients["console"].open(
        path.format(tenant=_throwaway(world)), method=method, json=body, headers=ADMIN
    )


def _call(
    app: str, method: str, path: str, body: Any = None, key: str | None = None, **kwargs: Any
) -> Witness:
    """``path`` (``{A}``/``{B}`` filled) called on ``app`` with the admin key, or tenant ``key``'s."""

    def call(world: World) -> Any:
        headers = {**(world.auth(key) if key else ADMIN), **kwargs.get("headers", {})}
        rest = {name: value for name, value in kwargs.items() if name != "headers"}
        return world.clients[app].open(
            path.format(A=A, B=B), method=method, json=body, headers=headers, **rest
        )

    return call


def _then(*steps: Witness) -> Witness:
    """Every step in turn (each must succeed but the last); the last one's answer."""

    def run(world: World) -> Any:
        for step in steps[:-1]:
            _ok(step(world))
        return steps[-1](world)

    return run


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code < 300, (response.request.path, response.get_data()[:300])
    return response.get_json(silent=True) or {}


def _ams(world: World, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return world.clients["ams"].open(f"/t/{A}{path}", method=method, json=body, headers={**ADMIN, **headers})


def _token(world: World, number: str = CARD["number"]) -> str:
    return _ok(_ams(world, "POST", "/gateway/v1/tokens", {"card": {**CARD, "number": number}}))["id"]


def _charge(world: World, number: str = CARD["number"]) -> str:
    """A new charge on a card; a challenge card's waits for its challenge (`requires_action`)."""
    return _ok(_ams(world, "POST", "/gateway/v1/charges", {"token": _token(world, number), "amount": 900}))[
        "id"
    ]


def _new_member(world: World, **fields: Any) -> str:
    serial = next(_SERIALS)
    body = {"email": f"witness.{serial}@example.org", "given_name": "Wit", "family_name": f"Ness{serial}"}
    return _ok(_ams(world, "POST", "/api/members", {**body, **fields}))["member_id"]


def _card_order(world: World) -> str:
    """A paid card order of a new member."""
    member = _new_member(world)
    _ok(_ams(world, "POST", f"/api/members/{member}/cart/items", {"product_code": "CEU-100"}))
    checkout = {"payment": {"card_token": _token(world)}}
    return _ok(_ams(world, "POST", f"/api/members/{member}/cart/checkout", checkout))["number"]


def _bulk_order(world: World) -> str:
    """An invoiced bulk order of two seats for ORG-0001."""
    body = {"product_code": "CEU-150", "seats": 2, "payment": {"po_number": "PO-W"}}
    return _ok(_ams(world, "POST", "/api/organisations/ORG-0001/orders", body))["number"]


def _order_call(make: Callable[[World], str], action: str, body: Any = None, times: int = 1) -> Witness:
    """``action`` on a new order made by ``make``, ``times`` times: the last answer."""

    def call(world: World) -> Any:
        number = make(world)
        for _ in range(times - 1):
            _ok(_ams(world, "POST", f"/api/orders/{number}/{action}", body))
        return _ams(world, "POST", f"/api/orders/{number}/{action}", body)

    return call


def _charge_call(number: str, action: str, body: Any = None, before: tuple[str, ...] = ()) -> Witness:
    def call(world: World) -> Any:
        charge = _charge(world, number)
        for step in before:
            _ok(_ams(world, "POST", f"/gateway/v1/charges/{charge}/{step}", {}))
        return _ams(world, "POST", f"/gateway/v1/charges/{charge}/{action}", body)

    return call


def _declined_purchase(kind: str) -> Witness:
    def call(world: World) -> Any:
        payment = {"card_token": _token(world, DECLINED_CARD)}
        if kind == "bulk":
            return _ams(
                world,
                "POST",
                "/api/organisations/ORG-0001/orders",
                {"product_code": "CEU-150", "seats": 1, "payment": payment},
            )
        member = _new_member(world)
        if kind == "phone":
            staff = _new_member(world, roles=["staff"])
            body = {"items": [{"product_code": "CEU-100"}], "payment": payment}
            return _ams(world, "POST", f"/api/members/{member}/orders", body, **{"X-Staff-Member": staff})
        _ok(_ams(world, "POST", f"/api/members/{member}/cart/items", {"product_code": "CEU-100"}))
        return _ams(world, "POST", f"/api/members/{member}/cart/checkout", {"payment": payment})

    return call


def _phone_order(world: World) -> Any:
    member, staff = _new_member(world), _new_member(world, roles=["staff"])
    body = {"items": [{"product_code": "CEU-100"}], "payment": {"po_number": "PO-PHONE"}}
    return _ams(world, "POST", f"/api/members/{member}/orders", body, **{"X-Staff-Member": staff})


def _assign_seat(world: World, times: int = 1) -> Any:
    number, member = _bulk_order(world), _new_member(world, organisation="ORG-0001")
    for _ in range(times - 1):
        _ok(_ams(world, "POST", f"/api/orders/{number}/seats", {"member_id": member}))
    return _ams(world, "POST", f"/api/orders/{number}/seats", {"member_id": member})


def _lms(world: World, method: str, path: str, body: Any = None) -> Any:
    return world.clients["lms"].open(f"/t/{A}{path}", method=method, json=body, headers=ADMIN)


def _enrollment(world: World, course: str = "CEU-100") -> int:
    """A new enrollment of a new learner."""
    member = _new_member(world)
    return _ok(_lms(world, "POST", "/api/enrollments", {"member_id": member, "course_code": course}))["id"]


def _webinar(world: World) -> str:
    courses = _ok(_lms(world, "GET", "/api/courses"))["courses"]
    return next(course["code"] for course in courses if course["kind"] == "webinar")


def _activity(
    action: str, body: Any = None, *, finished_first: str | None = None, webinar: bool = False
) -> Witness:
    """``action`` on a new enrollment (a webinar's when asked), after ``finished_first`` when given."""

    def call(world: World) -> Any:
        enrollment = _enrollment(world, _webinar(world) if webinar else "CEU-100")
        if finished_first:
            finish = {"minutes": 60} if webinar else {"score": 95}
            _ok(_lms(world, "POST", f"/api/enrollments/{enrollment}/{finished_first}", finish))
        return _lms(world, "POST", f"/api/enrollments/{enrollment}/{action}", body)

    return call


def _signed(
    app: str,
    path: str,
    secret_of: Callable[[World], str],
    document: Any = None,
    raw: bytes | None = None,
    method: str = "POST",
) -> Witness:
    """A request signed as the other app signs it (Standard Webhooks headers)."""

    def call(world: World) -> Any:
        body = raw if raw is not None else (json.dumps(document).encode() if document is not None else b"")
        headers = sign_headers(secret_of(world), f"msg_{next(_SERIALS)}", body)
        kwargs = {"data": body, "content_type": "application/json"} if method == "POST" else {}
        return world.clients[app].open(path.format(A=A), method=method, headers=headers, **kwargs)

    return call


def _inbox_secret(world: World) -> str:
    """A new writeback inbox secret for A, as an integrator gets one."""
    return _ok(world.clients["console"].post(f"/api/tenants/{A}/writeback/inbox-secrets", headers=ADMIN))[
        "secret"
    ]


def _lms_link_secret(world: World) -> str:
    """The secret the AMS signs A's purchase and catalog webhooks with."""
    with world.db.read() as session:
        return session.scalar(select(AmsLink.webhook_secret).where(AmsLink.tenant_id == A))


def _twice(witness: Witness, check: bool = True) -> Witness:
    """``witness`` made twice: the second answer (the first must succeed, unless ``check`` is off)."""

    def run(world: World) -> Any:
        first = witness(world)
        if check:
            _ok(first)
        return witness(world)

    return run


def _one_too_many_rules(world: World) -> Any:
    """A fault rule added to a tenant that has the most rules allowed (its rules cleared after)."""
    _ok(_call("console", "PUT", "/api/tenants/{A}/faults", {"rules": [NEVER_FIRES] * 200})(world))
    try:
        return _call("console", "POST", "/api/tenants/{A}/faults", NEVER_FIRES)(world)
    finally:
        _ok(_call("console", "DELETE", "/api/tenants/{A}/faults")(world))


def _minimal(world: World, app: str, method: str, path: str, **extra: Any) -> dict[str, Any]:
    """The minimal valid body of an operation (its required fields), with ``extra`` fields."""
    op = next(op for op in world.operations[app] if (op.method, op.path) == (method.lower(), path))
    _, raw = op.body(lambda name: None)
    return {**json.loads(raw), **extra}


def _run_as_b(path: str, **owner: Any) -> Witness:
    """A run for tenant A asked for with tenant B's key."""
    return lambda world: _call(
        "console", "POST", path, _minimal(world, "console", "POST", path, **owner), key=B
    )(world)


def _register_sp(world: World) -> Any:
    """Another tenant's LMS registered as an SP of A's IdP, by its metadata."""
    metadata = world.clients["lms"].get(f"/t/{_throwaway(world)}/saml/metadata").get_data(as_text=True)
    return _call("console", "POST", "/api/tenants/{A}/saml/service-providers", {"metadata_xml": metadata})(
        world
    )


def _lms_entity_id(world: World, tenant: str = A) -> str:
    """The entity id of ``tenant``'s own LMS, as registered at its IdP."""
    listed = _ok(world.clients["console"].get(f"/api/tenants/{tenant}/saml/service-providers", headers=ADMIN))
    return next(sp["entity_id"] for sp in listed["service_providers"] if f"/t/{tenant}/" in sp["entity_id"])


def _browser(world: World) -> Any:
    """A browser of its own (its own cookies) at the world's LMS."""
    return world.clients["lms"].application.test_client()


def _saml_sign_in(world: World, browser: Any) -> Any:
    """An unsolicited SAML response for a member, minted by A's IdP, posted by ``browser`` to A's ACS."""
    mint = {"sp": _lms_entity_id(world), "member_id": _new_member(world)}
    minted = _ok(_call("console", "POST", "/api/tenants/{A}/saml/responses", mint)(world))
    acs = urlsplit(minted["acs_url"])
    return browser.post(
        acs.path, data={"SAMLResponse": minted["saml_response"]}, base_url=world.config.lms_url
    )


def _signed_in(method: str, then: str) -> Witness:
    """``then`` (under A's LMS) in a browser signed in by SAML."""

    def call(world: World) -> Any:
        browser = _browser(world)
        signed_in = _saml_sign_in(world, browser)
        assert signed_in.status_code == 302, signed_in.get_data()[:300]
        return browser.open(f"/t/{A}{then}", method=method, base_url=world.config.lms_url)

    return call


def _tenant_signing_in_by(world: World, sso: dict[str, Any]) -> str:
    """A new tenant whose LMS settings have ``sso`` merged in."""
    tenant = _throwaway(world)
    headers = {**ADMIN, "Content-Type": "application/merge-patch+json"}
    url = f"/api/tenants/{tenant}/settings"
    _ok(world.clients["console"].patch(url, json={"sso": sso}, headers=headers))
    return tenant


def _page_of(sso: dict[str, Any], page: str) -> Witness:
    """``page`` of the LMS of a new tenant whose settings have ``sso`` merged in."""
    return lambda world: world.clients["lms"].get(f"/t/{_tenant_signing_in_by(world, sso)}{page}")


def _lms_without_ams(world: World, browser: Any | None = None) -> Any:
    """The world's LMS app again, configured with an AMS that does not answer (``browser``'s cookies)."""
    (closed,) = free_ports(1)
    overrides = {
        "data_dir": str(world.config.data_dir),
        "ams_port": closed,
        "lms_port": world.config.lms_port,
    }
    config = make_config(Path(world.config.data_dir).parent, world.config.database_url, **overrides)
    client = lms_app(config, world.db).test_client()
    for cookie in browser._cookies.values() if browser else ():
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return client


def _ams_gone_at_login(world: World) -> Any:
    return _lms_without_ams(world).get(f"/t/{_throwaway(world)}/login", base_url=world.config.lms_url)


def _ams_gone_at_landing(world: World) -> Any:
    tenant = _tenant_signing_in_by(world, {"protocol": "token"})
    landing = f"/t/{tenant}/sso/token/landing?token=x"
    return _lms_without_ams(world).get(landing, base_url=world.config.lms_url)


def _ams_gone_at_acs(world: World) -> Any:
    tenant = _throwaway(world)  # a tenant whose IdP metadata this process never read
    mint = {"sp": _lms_entity_id(world, tenant), "email": "active.member@demo.test"}
    url = f"/api/tenants/{tenant}/saml/responses"
    minted = _ok(world.clients["console"].post(url, json=mint, headers=ADMIN))
    form, acs = {"SAMLResponse": minted["saml_response"]}, urlsplit(minted["acs_url"]).path
    return _lms_without_ams(world).post(acs, data=form, base_url=world.config.lms_url)


def _ams_gone_at_callback(world: World) -> Any:
    """An OpenID Connect sign-in started while the AMS answered, called back once it no longer does."""
    tenant = _tenant_signing_in_by(world, {"protocol": "oidc"})
    browser = _browser(world)
    started = browser.get(f"/t/{tenant}/login", base_url=world.config.lms_url)
    state = dict(parse_qsl(urlsplit(started.headers["Location"]).query))["state"]
    callback = f"/t/{tenant}/oidc/callback?code=x&state={state}"
    return _lms_without_ams(world, browser).get(callback, base_url=world.config.lms_url)


def _database_gone(app: str) -> Witness:
    """``/healthz`` of an app whose database file can no longer be opened."""

    def call(world: World) -> Any:
        folder = Path(world.config.data_dir).parent / f"gone-{next(_SERIALS)}"
        folder.mkdir()
        # the world's data dir: its secret key (every app of a process shares one)
        config = make_config(folder, f"sqlite:///{folder}/sandbox.db", data_dir=str(world.config.data_dir))
        db = Database(config.resolved_database_url)
        db.upgrade()
        client = APPS[app](config, db).test_client()
        db.dispose()
        database = folder / "sandbox.db"
        database.unlink()
        database.mkdir()  # a folder where the database was: SQLite cannot open it
        try:
            return client.get("/healthz")
        finally:
            db.dispose()

    return call


DECLINED_CARD = "4000000000000002"
CHALLENGE_CARD = "4000000000003220"
SUPERVISED = "tests/e2e/test_supervision.py"
NO_TOKEN_CREDENTIAL = {"protocol": "token", "token_service_id": None, "token_service_secret": None}
NEVER_FIRES = {"app": "lms", "path": "/never-requested", "status": 503}

WITNESSES: dict[Case, Witness] = {
    # --- console ---
    ("console", "GET", "/healthz", "503"): _database_gone("console"),
    ("console", "POST", "/api/tenants", "403"): _call(
        "console", "POST", "/api/tenants", {"id": "by-a-tenant"}, key=B
    ),
    ("console", "POST", "/api/tenants", "409"): _call("console", "POST", "/api/tenants", {"id": A}),
    ("console", "DELETE", "/api/tenants/{tenant}", "204"): _on_throwaway("DELETE", "/api/tenants/{tenant}"),
    ("console", "DELETE", "/api/tenants/{tenant}", "403"): _call(
        "console", "DELETE", "/api/tenants/{B}", key=B
    ),
    ("console", "POST", "/api/tenants/{tenant}/reset", "200"): _on_throwaway(
        "POST", "/api/tenants/{tenant}/reset"
    ),
    ("console", "POST", "/api/tenants/{tenant}/seed", "200"): _on_throwaway(
        "POST", "/api/tenants/{tenant}/seed", {"members": 1}
    ),
    ("console", "POST", "/api/tenants/{tenant}/faults", "409"): _one_too_many_rules,
    ("console", "DELETE", "/api/tenants/{tenant}/faults/{rule_id}", "204"): lambda world: _call(
        "console",
        "DELETE",
        f"/api/tenants/{{A}}/faults/"
        f"{_ok(_call('console', 'POST', '/api/tenants/{A}/faults', NEVER_FIRES)(world))['id']}",
    )(world),
    ("console", "POST", "/api/tenants/{tenant}/keys/rotate", "409"): _twice(  # the first may be the 409
        _call("console", "POST", "/api/tenants/{A}/keys/rotate"), check=False
    ),
    ("console", "POST", "/api/tenants/{tenant}/saml/service-providers", "201"): _register_sp,
    ("console", "DELETE", "/api/tenants/{tenant}/saml/service-providers/{sp_id}", "204"): lambda world: _call(
        "console", "DELETE", f"/api/tenants/{{A}}/saml/service-providers/{_ok(_register_sp(world))['id']}"
    )(world),
    ("console", "POST", "/api/tenants/{tenant}/saml/responses", "201"): lambda world: _call(
        "console",
        "POST",
        "/api/tenants/{A}/saml/responses",
        {"sp": _lms_entity_id(world), "member_id": _new_member(world)},
    )(world),
    ("console", "POST", "/api/tenants/{tenant}/token-services", "409"): _twice(
        _call(
            "console",
            "POST",
            "/api/tenants/{A}/token-services",
            {"name": "Twice", "landing_url": "https://lms.example.org/in"},
        )
    ),
    ("console", "POST", "/api/scenario-runs", "403"): _run_as_b("/api/scenario-runs", tenant=A),
    ("console", "POST", "/api/scenario-runs/library", "403"): _call(
        "console", "POST", "/api/scenario-runs/library", {"scenario": "1"}, key=B
    ),
    ("console", "POST", "/api/conformance-runs", "403"): _run_as_b(
        "/api/conformance-runs", target={"idp_tenant": A}
    ),
    ("console", "GET", "/api/processes", "403"): _call("console", "GET", "/api/processes", key=B),
    ("console", "GET", "/api/processes", "409"): _call("console", "GET", "/api/processes"),
    **{
        ("console", "POST", f"/api/processes/{{name}}/{verb}", status): _call(
            "console",
            "POST",
            f"/api/processes/ams/{verb}",
            {} if verb in ("kill", "pause") else None,
            key=key,
        )
        for verb in ("kill", "pause", "resume", "restart")
        for status, key in (("403", B), ("409", None))
    },
    # --- AMS ---
    ("ams", "GET", "/healthz", "503"): _database_gone("ams"),
    ("ams", "POST", "/t/{tenant}/api/members", "409"): lambda world: _ams(
        world,
        "POST",
        "/api/members",
        {"email": "active.member@demo.test", "given_name": "A", "family_name": "B"},
    ),
    ("ams", "PATCH", "/t/{tenant}/api/members/{member_id}", "409"): lambda world: _ams(
        world, "PATCH", f"/api/members/{_new_member(world)}", {"email": "active.member@demo.test"}
    ),
    ("ams", "DELETE", "/t/{tenant}/api/members/{member_id}", "204"): lambda world: _ams(
        world, "DELETE", f"/api/members/{_new_member(world)}"
    ),
    ("ams", "DELETE", "/t/{tenant}/api/members/{member_id}", "409"): lambda world: _ams(
        world, "DELETE", f"/api/members/{BUYERS[0]}"
    ),
    ("ams", "POST", "/t/{tenant}/api/products", "201"): lambda world: _ams(
        world,
        "POST",
        "/api/products",
        {"code": "BOOK-WITNESS", "kind": "book", "title": "A book", "default_price": 500},
    ),
    ("ams", "POST", "/t/{tenant}/api/products", "409"): lambda world: _ams(
        world,
        "POST",
        "/api/products",
        {"code": "BOOK-ETHICS", "kind": "book", "title": "Again", "default_price": 500},
    ),
    ("ams", "POST", "/t/{tenant}/api/coupons", "201"): lambda world: _ams(
        world, "POST", "/api/coupons", {"code": "WITNESS10", "percent_off": 10}
    ),
    ("ams", "POST", "/t/{tenant}/api/coupons", "409"): _twice(
        lambda world: _ams(world, "POST", "/api/coupons", {"code": "TWICE10", "percent_off": 10})
    ),
    ("ams", "PATCH", "/t/{tenant}/api/members/{member_id}/cart/items/{product_code}", "200"): _then(
        lambda world: _ams(
            world, "POST", f"/api/members/{BUYERS[1]}/cart/items", {"product_code": "CEU-100"}
        ),
        lambda world: _ams(world, "PATCH", f"/api/members/{BUYERS[1]}/cart/items/CEU-100", {"quantity": 0}),
    ),
    ("ams", "PUT", "/t/{tenant}/api/members/{member_id}/cart/coupon", "200"): lambda world: _ams(
        world, "PUT", f"/api/members/{BUYERS[0]}/cart/coupon", {"code": None}
    ),
    ("ams", "POST", "/t/{tenant}/api/members/{member_id}/cart/checkout", "402"): _declined_purchase("cart"),
    ("ams", "POST", "/t/{tenant}/api/members/{member_id}/orders", "201"): _phone_order,
    ("ams", "POST", "/t/{tenant}/api/members/{member_id}/orders", "402"): _declined_purchase("phone"),
    ("ams", "POST", "/t/{tenant}/api/members/{member_id}/orders", "403"): lambda world: _ams(
        world,
        "POST",
        f"/api/members/{BUYERS[0]}/orders",
        {"items": [{"product_code": "CEU-100"}], "payment": {"po_number": "PO-X"}},
    ),
    ("ams", "POST", "/t/{tenant}/api/catalog/import", "409"): lambda world: _ams(
        world, "POST", "/api/catalog/import"
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/tokens", "402"): lambda world: _ams(
        world, "POST", "/gateway/v1/tokens", {"card": {**CARD, "exp_year": 2020}}
    ),
    ("ams", "POST", "/t/{tenant}/api/organisations/{org_id}/orders", "402"): _declined_purchase("bulk"),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/refunds", "200"): _order_call(
        _card_order, "refunds", {}
    ),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/refunds", "409"): _order_call(
        _card_order, "refunds", {}, times=2
    ),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/payments", "200"): _order_call(
        _bulk_order, "payments", {"amount": 1}
    ),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/payments", "409"): _order_call(
        _card_order, "payments", {"amount": 1}
    ),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/cancel", "200"): _order_call(_bulk_order, "cancel"),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/cancel", "409"): _order_call(_card_order, "cancel"),
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/seats", "200"): _assign_seat,
    ("ams", "POST", "/t/{tenant}/api/orders/{number}/seats", "409"): lambda world: _assign_seat(
        world, times=2
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/tokens", "201"): lambda world: _ams(
        world, "POST", "/gateway/v1/tokens", {"card": CARD}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges", "201"): lambda world: _ams(
        world, "POST", "/gateway/v1/charges", {"token": _token(world), "amount": 900}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges", "402"): lambda world: _ams(
        world, "POST", "/gateway/v1/charges", {"token": _token(world, DECLINED_CARD), "amount": 900}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/confirm", "200"): _charge_call(
        CHALLENGE_CARD, "confirm", {"challenge_response": "pass"}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/confirm", "402"): _charge_call(
        CHALLENGE_CARD, "confirm", {"challenge_response": "fail"}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/confirm", "409"): _charge_call(
        CARD["number"], "confirm", {"challenge_response": "pass"}
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/refunds", "409"): _charge_call(
        CARD["number"], "refunds", {}, before=("void",)
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/void", "200"): _charge_call(
        CARD["number"], "void"
    ),
    ("ams", "POST", "/t/{tenant}/gateway/v1/charges/{charge_id}/void", "409"): _charge_call(
        CARD["number"], "void", before=("void",)
    ),
    ("ams", "POST", "/t/{tenant}/writeback/records", "201"): _signed(
        "ams",
        "/t/{A}/writeback/records",
        _inbox_secret,
        envelope("wb_witness_new", BUYERS[0], completion_date="2026-03-02"),
    ),
    ("ams", "POST", "/t/{tenant}/writeback/records", "200"): _twice(
        _signed(
            "ams",
            "/t/{A}/writeback/records",
            _inbox_secret,
            envelope("wb_witness_again", BUYERS[0], completion_date="2026-03-03"),
        )
    ),
    ("ams", "POST", "/t/{tenant}/writeback/records", "400"): _signed(
        "ams", "/t/{A}/writeback/records", _inbox_secret, raw=b"{not json"
    ),
    ("ams", "POST", "/t/{tenant}/writeback/records", "413"): _signed(
        "ams", "/t/{A}/writeback/records", _inbox_secret, {"records": [{}] * 10_001}
    ),
    ("ams", "POST", "/t/{tenant}/writeback/records", "422"): _signed(
        "ams", "/t/{A}/writeback/records", _inbox_secret, envelope("wb_witness_bad", BUYERS[0], credits=0)
    ),
    # --- LMS ---
    ("lms", "GET", "/healthz", "503"): _database_gone("lms"),
    ("lms", "GET", "/t/{tenant}/login", "501"): _page_of(NO_TOKEN_CREDENTIAL, "/login"),
    ("lms", "GET", "/t/{tenant}/login", "502"): _ams_gone_at_login,
    ("lms", "GET", "/t/{tenant}/sso/token/landing", "4XX"): _call(
        "lms", "GET", "/t/{A}/sso/token/landing?token=x"
    ),
    ("lms", "GET", "/t/{tenant}/sso/token/landing", "501"): _page_of(
        NO_TOKEN_CREDENTIAL, "/sso/token/landing?token=x"
    ),
    ("lms", "GET", "/t/{tenant}/sso/token/landing", "502"): _ams_gone_at_landing,
    ("lms", "POST", "/t/{tenant}/saml/acs", "302"): lambda world: _saml_sign_in(world, _browser(world)),
    ("lms", "POST", "/t/{tenant}/saml/acs", "4XX"): _call(
        "lms", "POST", "/t/{A}/saml/acs", data={"SAMLResponse": "x"}
    ),
    ("lms", "POST", "/t/{tenant}/saml/acs", "502"): _ams_gone_at_acs,
    ("lms", "GET", "/t/{tenant}/oidc/callback", "4XX"): _call("lms", "GET", "/t/{A}/oidc/callback"),
    ("lms", "GET", "/t/{tenant}/oidc/callback", "502"): _ams_gone_at_callback,
    ("lms", "GET", "/t/{tenant}/me", "200"): _signed_in("GET", "/me"),
    ("lms", "GET", "/t/{tenant}/logout", "302"): _signed_in("GET", "/logout"),
    ("lms", "POST", "/t/{tenant}/logout", "302"): _signed_in("POST", "/logout"),
    ("lms", "POST", "/t/{tenant}/api/enrollments", "201"): lambda world: _lms(
        world, "POST", "/api/enrollments", {"member_id": _new_member(world), "course_code": "CEU-100"}
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/start", "200"): _activity("start"),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/start", "409"): _activity(
        "start", finished_first="complete"
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/progress", "200"): _activity(
        "progress", {"percent": 50}
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/progress", "409"): _activity(
        "progress", {"percent": 50}, finished_first="complete"
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/complete", "200"): _activity(
        "complete", {"score": 95}
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/complete", "409"): _activity(
        "complete", {"score": 95}, finished_first="complete"
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/attend", "200"): _activity(
        "attend", {"minutes": 60}, webinar=True
    ),
    ("lms", "POST", "/t/{tenant}/api/enrollments/{enrollment_id}/attend", "409"): _activity(
        "attend", {"minutes": 60}, webinar=True, finished_first="attend"
    ),
    ("lms", "PUT", "/t/{tenant}/api/courses/{code}", "201"): lambda world: _lms(
        world, "PUT", "/api/courses/WITNESS-1", {"title": "A new course"}
    ),
    ("lms", "POST", "/t/{tenant}/catalog/webhooks", "200"): _signed(
        "lms",
        "/t/{A}/catalog/webhooks",
        _lms_link_secret,
        {
            "type": "catalog.course.published",
            "course": {"code": "WITNESS-2", "title": "Published", "kind": "course"},
        },
    ),
    ("lms", "POST", "/t/{tenant}/catalog/webhooks", "400"): _signed(
        "lms", "/t/{A}/catalog/webhooks", _lms_link_secret, {"type": "catalog.course.published"}
    ),
    ("lms", "POST", "/t/{tenant}/commerce/webhooks", "400"): _signed(
        "lms", "/t/{A}/commerce/webhooks", _lms_link_secret, {"type": "order.paid"}
    ),
    ("lms", "GET", "/t/{tenant}/catalog/courses", "200"): _signed(
        "lms", "/t/{A}/catalog/courses", _lms_link_secret, method="GET"
    ),
}
"""Requests made by hand: the statuses of one operation no mechanical request reaches."""

JUSTIFIED: dict[Case, str] = {
    ("console", "GET", "/api/processes", "200"): f"needs a console that `sandbox up` started: {SUPERVISED}",
    **{
        ("console", "POST", f"/api/processes/{{name}}/{verb}", status): (
            f"needs a console that `sandbox up` started: {SUPERVISED}"
        )
        for verb in ("kill", "pause", "resume", "restart")
        for status in ("200", "404")
    },
    ("console", "POST", "/api/scenario-runs/library", "202"): (
        "runs a library scenario in the background against served apps; tests/console_ui/test_runs.py"
    ),
    ("console", "POST", "/api/tenants/{tenant}/outbox/{message_id}/replay", "200"): (
        "needs a dead letter (a delivery out of attempts): tests/writeback/test_writeback_delivery.py"
    ),
    ("ams", "POST", "/t/{tenant}/api/catalog/import", "200"): (
        "needs a tenant with catalog_owner: lms; tests/commerce/test_catalog_owner.py"
    ),
    ("ams", "POST", "/t/{tenant}/api/catalog/import", "502"): (
        "needs an LMS that does not answer; tests/commerce/test_catalog_owner.py"
    ),
    **{
        (
            "ams",
            method,
            path,
            status,
        ): "needs a token hand-off sign-in by a browser; tests/sso/test_token_handoff.py"
        for method, path, statuses in (
            ("POST", "/t/{tenant}/sso/token/validate", ("200", "400", "403")),
            ("GET", "/t/{tenant}/sso/token/members/{member_id}", ("200",)),
        )
        for status in statuses
    },
    ("lms", "POST", "/t/{tenant}/commerce/webhooks", "200"): (
        "an order's purchase webhook from the AMS's outbox: tests/helpers/isolation_world.py delivers them"
    ),
    ("lms", "GET", "/t/{tenant}/sso/token/landing", "302"): (
        "needs a token the AMS issued at a browser sign-in: tests/sso/test_token_end_to_end.py"
    ),
    ("lms", "GET", "/t/{tenant}/oidc/callback", "302"): (
        "needs a code the AMS issued at a browser sign-in: tests/sso/test_rp_oidc.py"
    ),
}
"""Statuses no request to an app served in this process can cause by itself, each with the reason and
the tests that reach it."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("statuses")
    with two_tenant_world(tmp_path, f"sqlite:///{tmp_path / 'sandbox.db'}") as built:
        yield built


def documented(world: World, app: str) -> list[tuple[isolation.Operation, str]]:
    return [(op, status) for op in world.operations[app] for status in op.spec.get("responses", {})]


def case_of(op: isolation.Operation, status: str) -> Case:
    return (op.app, op.method.upper(), op.path, status)


def _values(world: World, op: isolation.Operation) -> dict[str, Any] | None:
    found = world.found[A][op.app]
    values = {}
    for param in op.params:
        candidates = found.candidates(op, param)
        if not candidates:
            return None
        values[param] = candidates[0]
    return values


def _fill(world: World, op: isolation.Operation) -> Callable[[str], Any]:
    found = world.found[A][op.app]

    def fill(name: str) -> Any:
        values = found.by_key.get(name)
        return values[0] if values and name.endswith(("_id", "_code")) else None

    return fill


def _open(world: World, op: isolation.Operation, url: str, **kwargs: Any) -> Any:
    return world.clients[op.app].open(url, method=op.method.upper(), **kwargs)


def _valid_body(world: World, op: isolation.Operation) -> dict[str, Any]:
    body = op.body(_fill(world, op), BODY_HINTS.get(str(op)))
    return {"content_type": body[0], "data": body[1]} if body else {}


def mechanical(world: World, op: isolation.Operation, status: str) -> Any:
    """The request every operation of its kind answers with ``status``, or None when there is none."""
    values = _values(world, op)
    url = op.url(A, values) if values is not None else None
    json_body = "application/json" in op.spec.get("requestBody", {}).get("content", {})
    if status.startswith(("2", "3")) and url:
        return _open(world, op, url, headers=ADMIN, **_valid_body(world, op))
    if status == "401" and url:
        return _open(world, op, url, **_valid_body(world, op))
    if status == "404":
        if op.tenant_scoped:
            unknown = op.url(UNKNOWN, values or {param: UNKNOWN for param in op.params})
            return _open(world, op, unknown, headers=ADMIN, **_valid_body(world, op))
        if op.params:
            missing = op.url(A, {param: 999_999 for param in op.params})
            return _open(world, op, missing, headers=ADMIN, **_valid_body(world, op))
    if status == "400" and json_body and url:
        return _open(world, op, url, headers=ADMIN, data=b"{", content_type="application/json")
    if status == "415" and json_body and url:
        return _open(world, op, url, headers=ADMIN, data=b"{}", content_type="text/plain")
    if status == "422" and url:
        if json_body:
            return _open(world, op, url, headers=ADMIN, data=b"[[]]", content_type="application/json")
        parameters = op.spec.get("parameters", [])
        query = [p["name"] for p in parameters if p.get("in") == "query"]
        if query:
            return _open(world, op, url, headers=ADMIN, query_string={query[0]: "\x00"})
        bounded = {  # an unknown /t/{tenant} is a 404 before anything is validated
            p["name"]: p["schema"]["maxLength"]
            for p in parameters
            if "maxLength" in p.get("schema", {})
            and not (p["name"] == "tenant" and op.path.startswith("/t/"))
        }
        too_long = {**(values or {}), **{name: "x" * (limit + 1) for name, limit in bounded.items()}}
        too_low = {  # the route's converter takes 0, not a negative number
            p["name"]: int(p["schema"]["minimum"]) - 1
            for p in parameters
            if p.get("schema", {}).get("minimum", 0) >= 1
        }
        bounded.update(too_low)
        too_long.update(too_low)
        if bounded and set(op.params) <= set(too_long):
            return _open(world, op, op.url(too_long.pop("tenant", A), too_long), headers=ADMIN)
    return None


def _in_order(cases: list[tuple[isolation.Operation, str]]) -> list[tuple[isolation.Operation, str]]:
    """Deletes last, an object's before its collection's, so each call still finds what it needs."""
    return sorted(cases, key=lambda case: (case[0].method == "delete", -len(case[0].path)))


def _unreached(world: World, app: str) -> list[str]:
    problems = []
    for op, status in _in_order(documented(world, app)):
        case = case_of(op, status)
        if case in JUSTIFIED or status == "429":
            continue
        reach = WITNESSES.get(case)
        try:
            response = reach(world) if reach else mechanical(world, op, status)
        except AssertionError as failed:  # a step of a witness went wrong
            problems.append(f"{op} {status}: the witness failed on the way: {failed}")
            continue
        if response is None:
            problems.append(f"{op} {status}: no request reaches it (add a witness or a justification)")
        elif str(response.status_code) != status and not (
            status == "4XX" and 400 <= response.status_code < 500
        ):
            problems.append(f"{op} {status}: answered {response.status_code} {response.get_data()[:160]!r}")
    return problems


@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_every_documented_status_is_reached_or_justified(world: World, app: str) -> None:
    assert _unreached(world, app) == []


def test_every_keyed_operation_answers_a_locked_out_client_429(world: World) -> None:
    lockout = {"REMOTE_ADDR": LOCKED_OUT}
    console = world.clients["console"]
    for _ in range(world.config.key_attempt_limit + 1):
        refused = console.get("/api/tenants", headers={"Authorization": "Bearer wrong"}, environ_base=lockout)
    assert refused.status_code == 429
    answers = {}
    for app in ("console", "ams", "lms"):
        for op, status in documented(world, app):
            if status == "429":
                values = _values(world, op) or {param: UNKNOWN for param in op.params}
                url, body = op.url(A, values), _valid_body(world, op)
                response = _open(world, op, url, headers=ADMIN, environ_base=lockout, **body)
                answers[str(op)] = response.status_code
    assert len(answers) > 100 and {op: code for op, code in answers.items() if code != 429} == {}


def test_the_tables_name_documented_statuses_only(world: World) -> None:
    declared = {
        case_of(op, status) for app in ("console", "ams", "lms") for op, status in documented(world, app)
    }
    assert set(WITNESSES) - declared == set()
    assert set(JUSTIFIED) - declared == set()
    assert set(WITNESSES) & set(JUSTIFIED) == set()
    named = {path for reason in JUSTIFIED.values() for path in re.findall(r"tests/[\w/.]+\.py", reason)}
    assert named and all(Path(path).is_file() for path in named), named


def test_a_status_nobody_can_cause_is_reported(world: World) -> None:
    """The check bites: a 402 added to a list endpoint's document is found unreachable."""
    ledger = next(op for op in world.operations["ams"] if op.path.endswith("/api/ledger"))
    phantom = dataclasses.replace(ledger, spec={**ledger.spec, "responses": {"402": {}}})
    original = world.operations["ams"]
    world.operations["ams"] = [phantom]
    try:
        assert _unreached(world, "ams") == [
            f"{phantom} 402: no request reaches it (add a witness or a justification)"
        ]
    finally:
        world.operations["ams"] = original
