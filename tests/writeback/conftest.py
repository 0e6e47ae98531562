"""A writeback world: the AMS and the LMS served over real HTTP on free 127.0.0.1 ports (threads), the
console as a test client, and one seeded tenant whose outbox points at that AMS.

A test that serves the AMS itself (e.g. ``sandbox serve ams`` under gunicorn) overrides
``world_serves_ams`` to ``False`` and serves it on ``world.config.ams_port``, where the outbox sends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, make_server

import simulator.jobs  # noqa: F401 - registers job kinds and outbox delivery
from simulator.ams.writeback.models import WritebackRecord
from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.core.outbox_models import OutboxMessage
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config

FAST_RETRY = {"schedule_seconds": [0, 5, 300, 1800, 7200], "time_scale": 0.0001, "jitter": 0.0}


@dataclass
class World:
    config: SandboxConfig
    db: Database
    console: Any
    tenant: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def lms(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.config.lms_url}/t/{self.tenant}", headers=self.auth, timeout=30)

    def ams(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.config.ams_url}/t/{self.tenant}", headers=self.auth, timeout=30)

    def patch_settings(self, patch: dict[str, Any]) -> None:
        response = self.console.patch(f"/api/tenants/{self.tenant}/settings", json=patch, headers=ADMIN)
        assert response.status_code == 200, response.get_json()

    def advance(self, **amount: float) -> dict[str, Any]:
        response = self.console.post(f"/api/tenants/{self.tenant}/clock/advance", json=amount, headers=ADMIN)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def member_ids(self, count: int = 5) -> list[str]:
        from simulator.ams.models import Member

        with self.db.read() as session:
            return list(
                session.scalars(
                    select(Member.member_id)
                    .where(Member.tenant_id == self.tenant, Member.record_type == "member")
                    .order_by(Member.pk)
                    .limit(count)
                )
            )

    def stored_records(self) -> int:
        with self.db.read() as session:
            return session.scalar(
                select(func.count())
                .select_from(WritebackRecord)
                .where(WritebackRecord.tenant_id == self.tenant)
            )

    def outbox_states(self) -> dict[str, int]:
        with self.db.read() as session:
            return dict(
                session.execute(
                    select(OutboxMessage.state, func.count())
                    .where(OutboxMessage.tenant_id == self.tenant)
                    .group_by(OutboxMessage.state)
                ).all()
            )

    def complete_in_lms(
        self, pairs: list[tuple[str, str]], score: float = 90.0, per_transaction: int = 1
    ) -> None:
        """Enrol and pass each (member, course) through the LMS services (fast), ``per_transaction``
        completions in each transaction (one by default, as the LMS API commits them)."""
        from simulator.core.models import Tenant
        from simulator.lms.learning import service

        for start in range(0, len(pairs), per_transaction):
            with self.db.session() as session:
                tenant = session.get(Tenant, self.tenant)
                for member_id, course in pairs[start : start + per_transaction]:
                    enrollment, _ = service.enroll(session, tenant, member_id, course)
                    service.complete(session, tenant, enrollment["id"], score, self.config.lms_url)

    def enroll_and_complete(self, lms: httpx.Client, member_id: str, course: str, score: float) -> dict:
        enrollment = lms.post("/api/enrollments", json={"member_id": member_id, "course_code": course})
        assert enrollment.status_code in (200, 201), enrollment.text
        done = lms.post(f"/api/enrollments/{enrollment.json()['id']}/complete", json={"score": score})
        assert done.status_code == 200, done.text
        return done.json()


def serve(app: Any, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def world_settings() -> dict[str, Any]:
    """Settings of the world's tenant (a test overrides this fixture to change them)."""
    return {"retry": FAST_RETRY}


@pytest.fixture
def world_members() -> int:
    """How many generated members the world's tenant gets."""
    return 20


@pytest.fixture
def world_serves_ams() -> bool:
    """Whether the world serves the AMS in a thread (a test that serves it another way says False)."""
    return True


@pytest.fixture
def world(
    tmp_path: Path, db_url: str, world_settings: dict[str, Any], world_members: int, world_serves_ams: bool
) -> Iterator[World]:
    from simulator.ams.app import create_app as ams_app
    from simulator.console.app import create_app as console_app
    from simulator.lms.app import create_app as lms_app

    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    servers = [serve(lms_app(config, db), lms_port)]
    if world_serves_ams:
        servers.append(serve(ams_app(config, db), ams_port))
    console = console_app(config, db).test_client()
    response = console.post(
        "/api/tenants",
        json={"id": "acme", "members": world_members, "seed": 3, "settings": world_settings},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.get_json()
    try:
        yield World(config, db, console, "acme", response.get_json()["api_key"])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        db.dispose()
