"""``catalog_owner``: the AMS publishes its course products to the LMS, or imports the LMS's courses.

Real HTTP between real AMS and LMS servers on free 127.0.0.1 ports; outbox deliveries and the nightly
import run when the tenant's business clock advances (the console's ``POST /clock/advance``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.helpers.servers import serving

TENANT = "catalog"


@dataclass
class Sides:
    config: SandboxConfig
    console: Any
    auth: dict[str, str]

    def ams(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.config.ams_url}/t/{TENANT}/api{path}"
        return httpx.request(method, url, headers=self.auth, timeout=10, **kwargs)

    def lms(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.config.lms_url}/t/{TENANT}/api{path}"
        return httpx.request(method, url, headers=self.auth, timeout=10, **kwargs)

    def lms_course(self, code: str) -> dict[str, Any] | None:
        response = self.lms("GET", "/courses")
        assert response.status_code == 200, response.text
        return next((c for c in response.json()["courses"] if c["code"] == code), None)

    def ams_product(self, code: str) -> dict[str, Any] | None:
        response = self.ams("GET", f"/products/{code}")
        return response.json() if response.status_code == 200 else None

    def console_call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = getattr(self.console, method)(f"/api/tenants/{TENANT}{path}", headers=ADMIN, **kwargs)
        assert response.status_code in (200, 201, 204), response.get_json()
        return response.get_json()

    def owner(self, value: str) -> None:
        self.console_call("patch", "/settings", json={"catalog_owner": value})

    def advance(self, **amount: float) -> list[dict[str, Any]]:
        return self.console_call("post", "/clock/advance", json=amount)["jobs_run"]

    def catalog_messages(self) -> list[dict[str, Any]]:
        items = self.console_call("get", "/outbox")["items"]
        return [item for item in items if item["topic"] == "catalog.course.published"]


@pytest.fixture
def sides(tmp_path: Path, db_url: str) -> Iterator[Sides]:
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console
    from simulator.lms.app import create_app as create_lms

    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    try:
        with serving((ams_port, create_ams(config, db)), (lms_port, create_lms(config, db))):
            console = create_console(config, db).test_client()
            created = console.post(
                "/api/tenants", json={"id": TENANT, "seed": 3, "members": 5}, headers=ADMIN
            )
            assert created.status_code == 201, created.get_json()
            yield Sides(config, console, {"Authorization": f"Bearer {created.get_json()['api_key']}"})
    finally:
        db.dispose()


NEW_COURSE = {
    "code": "CLE-999",
    "kind": "course",
    "title": "Courtroom Technology",
    "lms_code": "CLE-999",
    "default_price": 9900,
    "prices": {"member": 6900},
}


def test_ams_mode_publishes_new_and_changed_course_products_to_the_lms(sides: Sides) -> None:
    created = sides.ams("POST", "/products", json=NEW_COURSE)
    assert created.status_code == 201, created.text
    assert sides.lms_course("CLE-999") is None  # sent by the outbox, not inside the request

    sides.advance(seconds=1)
    course = sides.lms_course("CLE-999")
    assert course is not None
    assert (course["title"], course["kind"]) == ("Courtroom Technology", "course")

    changed = sides.ams("PATCH", "/products/CLE-999", json={"title": "Courtroom Technology 2027"})
    assert changed.status_code == 200, changed.text
    sides.advance(seconds=1)
    assert sides.lms_course("CLE-999")["title"] == "Courtroom Technology 2027"  # type: ignore[index]
    assert [m["state"] for m in sides.catalog_messages()] == ["delivered", "delivered"]

    book = sides.ams(
        "POST", "/products", json={"code": "BOOK-2", "kind": "book", "title": "A book", "default_price": 100}
    )
    assert book.status_code == 201, book.text
    assert len(sides.catalog_messages()) == 2  # only courses and webinars are published


def test_an_lms_outage_delays_the_publish_but_does_not_lose_it(sides: Sides) -> None:
    sides.console_call("post", "/faults", json={"app": "lms", "status": 503})
    created = sides.ams("POST", "/products", json={**NEW_COURSE, "kind": "webinar"})
    assert created.status_code == 201, created.text
    sides.advance(minutes=10)
    assert [m["state"] for m in sides.catalog_messages()] == ["retrying"]

    sides.console_call("delete", "/faults")
    assert sides.lms_course("CLE-999") is None
    assert sides.ams_product("CLE-999") is not None  # the AMS kept its product all along

    sides.advance(hours=1)
    assert [m["state"] for m in sides.catalog_messages()] == ["delivered"]
    assert sides.lms_course("CLE-999")["kind"] == "webinar"  # type: ignore[index]


def test_lms_mode_refuses_course_products_created_in_the_ams(sides: Sides) -> None:
    sides.owner("lms")
    refused = sides.ams("POST", "/products", json=NEW_COURSE)
    assert refused.status_code == 422
    assert refused.json()["code"] == "catalog_owned_by_lms"
    assert "LMS owns" in refused.json()["detail"]
    assert sides.ams_product("CLE-999") is None
    book = sides.ams(
        "POST", "/products", json={"code": "BOOK-2", "kind": "book", "title": "A book", "default_price": 100}
    )
    assert book.status_code == 201, book.text  # non-LMS products are still the AMS's own
    assert sides.catalog_messages() == []


def test_lms_mode_imports_on_demand_and_keeps_ams_prices(sides: Sides) -> None:
    assert sides.ams("POST", "/catalog/import").json()["code"] == "catalog_owned_by_ams"
    sides.owner("lms")
    made = sides.lms("PUT", "/courses/CPE-500", json={"title": "Forensic Accounting", "contact_hours": 4})
    assert made.status_code == 201, made.text
    renamed = sides.lms("PUT", "/courses/ETH-101", json={"title": "Ethics in Practice (2027)"})
    assert renamed.status_code == 200, renamed.text
    assert sides.ams("PATCH", "/products/ETH-101", json={"prices": {"member": 1234}}).status_code == 200

    imported = sides.ams("POST", "/catalog/import")
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert result["created"] == ["CPE-500"]
    assert result["updated"] == ["ETH-101"]
    assert "CLE-204" in result["unchanged"]

    product = sides.ams_product("CPE-500")
    assert product is not None
    assert (product["kind"], product["lms_code"], product["title"]) == (
        "course",
        "CPE-500",
        "Forensic Accounting",
    )
    assert product["prices"] == {"member": 8500, "student": 4250, "non_member": 12750}  # 25 + 15 x 4 h
    eth = sides.ams_product("ETH-101")
    assert eth is not None
    assert (eth["title"], eth["prices"]) == ("Ethics in Practice (2027)", {"member": 1234})

    again = sides.ams("POST", "/catalog/import").json()
    assert again["created"] == [] and again["updated"] == []
    assert sides.catalog_messages() == []  # nothing is published back in lms mode


def test_lms_mode_imports_nightly_and_ams_mode_skips_the_job(sides: Sides) -> None:
    made = sides.lms("PUT", "/courses/CME-400", json={"title": "Telehealth Basics", "kind": "webinar"})
    assert made.status_code == 201, made.text
    ran = [job for job in sides.advance(days=1) if job["kind"] == "ams.catalog_import"]
    assert [job["result"] for job in ran] == [{"skipped": "catalog_owner is ams"}]
    assert sides.ams_product("CME-400") is None

    sides.owner("lms")
    ran = [job for job in sides.advance(days=1) if job["kind"] == "ams.catalog_import"]
    assert len(ran) == 1 and ran[0]["state"] == "done", ran
    assert ran[0]["result"]["created"] == ["CME-400"]
    product = sides.ams_product("CME-400")
    assert product is not None and product["kind"] == "webinar"


def test_the_lms_catalog_channel_needs_the_shared_signature(sides: Sides) -> None:
    base = f"{sides.config.lms_url}/t/{TENANT}/catalog"
    assert httpx.get(f"{base}/courses", headers=sides.auth, timeout=10).status_code == 401
    forged = httpx.post(f"{base}/webhooks", json={"course": {"code": "X-1", "title": "x"}}, timeout=10)
    assert forged.status_code == 401
    assert sides.lms_course("X-1") is None
