"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL where a test asks for both),
the three apps with test clients, and helpers that read in domain words."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from simulator.config import SandboxConfig, load_config
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.scenario.client import SandboxClient

ADMIN_KEY = "test-admin-key"
POSTGRES_URL_ENV = "SANDBOX_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_URL_ENV} is not set: run the tests with `make test`.")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV} (set by `make test`).")
    return url


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped when the block ends)."""
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sandbox.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The database tests use unless they ask for ``any_db_url``: SQLite."""
    return sqlite_url


def make_config(tmp_path: Path, db_url: str, **overrides: Any) -> SandboxConfig:
    values = {"data_dir": str(tmp_path / "data"), "database_url": db_url, "admin_key": ADMIN_KEY}
    values.update(overrides)
    return load_config(env={}, overrides=values)


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> SandboxConfig:
    return make_config(tmp_path, db_url)


@pytest.fixture
def db(config: SandboxConfig) -> Iterator[Database]:
    database = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, database)  # as every sandbox process does when it starts
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def console(config: SandboxConfig, db: Database) -> Any:
    from simulator.console.app import create_app

    return create_app(config, db).test_client()


@pytest.fixture
def ams(config: SandboxConfig, db: Database) -> Any:
    from simulator.ams.app import create_app

    return create_app(config, db).test_client()


@pytest.fixture
def lms(config: SandboxConfig, db: Database) -> Any:
    from simulator.lms.app import create_app

    return create_app(config, db).test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN = bearer(ADMIN_KEY)


@dataclass
class TenantHandle:
    id: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.api_key)


@pytest.fixture
def make_tenant(console: Any) -> Any:
    """Create a tenant through the control API: ``make_tenant("acme", members=10, seed=3)``."""

    def create(tenant_id: str = "acme", **body: Any) -> TenantHandle:
        response = console.post("/api/tenants", json={"id": tenant_id, **body}, headers=ADMIN)
        assert response.status_code == 201, response.get_json()
        return TenantHandle(tenant_id, response.get_json()["api_key"])

    return create


@pytest.fixture
def sandbox_env(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SandboxClient:
    """Point the sandbox configuration (SANDBOX_* environment) at the session's sandbox, as a user would."""
    for name in ("console", "ams", "lms"):
        url = getattr(sandbox, f"{name}_url")
        monkeypatch.setenv(f"SANDBOX_{name.upper()}_PORT", url.rsplit(":", 1)[1])
    monkeypatch.setenv("SANDBOX_ADMIN_KEY", sandbox.key)
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SANDBOX_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return sandbox
