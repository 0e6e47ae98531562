"""Two tenants with real data, for isolation tests: A (``alpha``) and B (``bravo``), the AMS and LMS served
over HTTP (so purchases and completions are delivered for real), the three apps as test clients, and
the ids each tenant's lists answer with (:func:`tests.helpers.isolation.harvest`).

Example::

    with two_tenant_world(tmp_path, "sqlite:///...") as world:
        world.clients["ams"].get(f"/t/{A}/api/orders", headers=world.auth(B))  # 404
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, bearer, make_config
from tests.helpers import isolation
from tests.helpers.servers import serving

A, B = "alpha", "bravo"
RETRY_AT_ONCE = {"schedule_seconds": [0, 5], "time_scale": 0.0001, "jitter": 0.0}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
BUYERS = ("M100001", "M100004")
BODY_HINTS = {
    "console POST /api/tenants/{tenant}/faults": {"status": 503, "path": "/never-requested"},
    "console POST /api/tenants/{tenant}/saml/responses": {"email": "active.member@demo.test"},
    "ams POST /t/{tenant}/api/members/{member_id}/cart/checkout": {"payment": {"po_number": "PO-9"}},
    "ams POST /t/{tenant}/api/members/{member_id}/orders": {"payment": {"po_number": "PO-9"}},
    "ams POST /t/{tenant}/api/organisations/{org_id}/orders": {"payment": {"po_number": "PO-9"}},
}
"""Fields a rule across fields needs beyond the schema's required ones (a fault needs an effect, a minted
response a member, a payment a card or a purchase order): without them the body is refused before the
key (console) or the object named (AMS) is looked at."""


@dataclass
class World:
    """Tenants A and B with real data, the three apps (test clients) and what A's and B's lists hold."""

    db: Database
    config: SandboxConfig
    clients: dict[str, Any]
    keys: dict[str, str]
    operations: dict[str, list[isolation.Operation]] = field(default_factory=dict)
    found: dict[str, dict[str, isolation.Harvest]] = field(default_factory=dict)

    def auth(self, tenant: str) -> dict[str, str]:
        return bearer(self.keys[tenant])

    def only_in(self, tenant: str, other: str) -> set[str]:
        """Strings (ids, emails…) that ``tenant``'s lists show and ``other``'s never do."""
        mine = set().union(*(harvest.strings() for harvest in self.found[tenant].values()))
        theirs = set().union(*(harvest.strings() for harvest in self.found[other].values()))
        return {value for value in mine - theirs if len(value) >= 6}


def populate(world: World, tenant: str, orders: int) -> None:
    """Give ``tenant`` one of everything the seed lacks: orders (card and purchase order), a charge, a
    cart, an enrollment and completion (delivered as writeback), an OIDC client, a fault rule that never
    fires, and scenario and conformance runs."""
    console, ams, lms = world.clients["console"], world.clients["ams"], world.clients["lms"]
    base = f"/t/{tenant}"

    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), (response.request.path, response.get_json())
        return response.get_json()

    token = ok(ams.post(f"{base}/gateway/v1/tokens", json={"card": CARD}, headers=ADMIN))["id"]
    for buyer in BUYERS[:orders]:  # one order each: two webhooks for one new learner would race
        cart = f"{base}/api/members/{buyer}/cart"
        ok(ams.post(f"{cart}/items", json={"product_code": "CEU-100"}, headers=ADMIN))
        ok(ams.post(f"{cart}/checkout", json={"payment": {"card_token": token}}, headers=ADMIN))
    ok(ams.post(f"{base}/gateway/v1/charges", json={"token": token, "amount": 1500}, headers=ADMIN))
    bulk = {"product_code": "CEU-150", "seats": 2, "payment": {"po_number": "PO-1"}}
    ok(ams.post(f"{base}/api/organisations/ORG-0001/orders", json=bulk, headers=ADMIN))
    book = {"product_code": "BOOK-ETHICS"}  # left in the cart
    ok(ams.post(f"{base}/api/members/{BUYERS[0]}/cart/items", json=book, headers=ADMIN))
    enrollment = {"member_id": "M100002", "course_code": "CEU-150"}
    enrollment_id = ok(lms.post(f"{base}/api/enrollments", json=enrollment, headers=ADMIN))["id"]
    ok(lms.post(f"{base}/api/enrollments/{enrollment_id}/complete", json={"score": 95}, headers=ADMIN))
    client = {"client_name": "RP", "redirect_uris": [f"https://rp.{tenant}.example.org/callback"]}
    ok(console.post(f"/api/tenants/{tenant}/oidc/clients", json=client, headers=ADMIN))
    never = {"app": "lms", "path": "/never-requested", "status": 503}
    ok(console.post(f"/api/tenants/{tenant}/faults", json=never, headers=ADMIN))
    by_path = {(op.method, op.path): op for op in world.operations["console"]}
    for path, owner in (("/api/scenario-runs", {"tenant": tenant}), ("/api/conformance-runs", None)):
        _, raw = by_path[("post", path)].body(lambda name: None)
        run = json.loads(raw) | (owner or {"target": {"idp_tenant": tenant}})
        ok(console.post(path, json=run, headers=ADMIN))
    deliveries = ok(console.post(f"/api/tenants/{tenant}/clock/advance", json={"minutes": 1}, headers=ADMIN))
    # every card order reached the LMS (an enrollment), the completion reached the AMS (its inbox)
    assert deliveries["jobs_run"][0]["result"] == {"delivered": orders + 2}


@contextlib.contextmanager
def two_tenant_world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """A with 24 generated members and two card orders, B with 20 and one: A has objects B lacks."""
    from simulator.ams.app import create_app as ams_app
    from simulator.console.app import create_app as console_app
    from simulator.lms.app import create_app as lms_app

    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, database_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    with contextlib.ExitStack() as stack:
        stack.callback(db.dispose)
        stack.enter_context(serving((ams_port, ams_app(config, db)), (lms_port, lms_app(config, db))))
        apps = {"console": console_app, "ams": ams_app, "lms": lms_app}
        world = World(db, config, {name: app(config, db).test_client() for name, app in apps.items()}, {})
        for name, client in world.clients.items():
            world.operations[name] = isolation.operations(name, client.get("/openapi.json").get_json())
        for tenant, seed, members, orders in ((A, 1, 24, 2), (B, 2, 20, 1)):
            body = {"id": tenant, "seed": seed, "members": members, "settings": {"retry": RETRY_AT_ONCE}}
            created = world.clients["console"].post("/api/tenants", json=body, headers=ADMIN)
            assert created.status_code == 201, created.get_json()
            world.keys[tenant] = created.get_json()["api_key"]
            populate(world, tenant, orders)
        for tenant in (A, B):
            world.found[tenant] = {
                name: isolation.harvest(client, world.operations[name], tenant, ADMIN, world.auth(tenant))
                for name, client in world.clients.items()
            }
        yield world
