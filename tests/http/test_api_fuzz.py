"""Property-based API tests (schemathesis): whatever a client sends, no 5xx and errors are problem+json."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from simulator.config import SandboxConfig
from simulator.core.db import Database
from tests.conftest import ADMIN

FUZZ_TENANT = "acme"
# no 5xx; every status, content type and body is the one the document declares for the operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLOW_FIELD_CAPS = {"days": 2, "hours": 48, "minutes": 2880, "seconds": 172_800, "members": 50}


def _seeded(config: SandboxConfig, db: Database) -> None:
    from simulator.console.service import create_seeded_tenant

    create_seeded_tenant(db, config, FUZZ_TENANT, seed=1, members=20)


@pytest.fixture
def console_schema(config: SandboxConfig, db: Database) -> Any:
    from simulator.console.app import create_app

    _seeded(config, db)
    return schemathesis.openapi.from_wsgi("/openapi.json", create_app(config, db))


@pytest.fixture
def ams_schema(config: SandboxConfig, db: Database) -> Any:
    from simulator.ams.app import create_app

    _seeded(config, db)
    return schemathesis.openapi.from_wsgi("/openapi.json", create_app(config, db))


def _aim(case: Any) -> None:
    """Aim most cases at a real tenant (so validation runs deep), with small amounts where big is slow."""
    if "tenant" in (case.path_parameters or {}) and not (
        case.method == "DELETE" and case.path == "/api/tenants/{tenant}"
    ):
        case.path_parameters["tenant"] = FUZZ_TENANT
    if isinstance(case.body, dict):
        # big valid amounts are slow, not interesting (every nightly job on the way runs; 200k members
        # get seeded): keep the valid ones small
        for field, cap in SLOW_FIELD_CAPS.items():
            value = case.body.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                case.body[field] = min(value, cap)
        if case.path.endswith("/clock/advance"):
            case.body.pop("until", None)


def _judge(case: Any, response: Any) -> None:
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), (response.status_code, response.text)
        assert "Traceback" not in response.text


def _check(case: Any) -> None:
    _aim(case)
    _judge(case, case.call(headers=ADMIN))


FUZZ_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)

console_api = schemathesis.pytest.from_fixture("console_schema")
ams_api = schemathesis.pytest.from_fixture("ams_schema")


@console_api.parametrize()
@FUZZ_SETTINGS
def test_control_api_never_fails_with_a_server_error(case: Any) -> None:
    _check(case)


@ams_api.parametrize()
@FUZZ_SETTINGS
def test_ams_api_never_fails_with_a_server_error(case: Any) -> None:
    _check(case)


@pytest.fixture
def lms_schema(config: SandboxConfig, db: Database) -> Any:
    from simulator.lms.app import create_app

    _seeded(config, db)
    return schemathesis.openapi.from_wsgi("/openapi.json", create_app(config, db))


# the LMS's browser endpoints (/login, /saml/acs…) call the AMS, which is not served here, so they answer
# 502 by design; tests/sso covers them against a served AMS
lms_api = schemathesis.pytest.from_fixture("lms_schema").include(path_regex="/api/")


@lms_api.parametrize()
@FUZZ_SETTINGS
def test_lms_api_never_fails_with_a_server_error(case: Any) -> None:
    _check(case)


# --- stateful: sequences of calls that follow the documents' links (an object's id from the answer that
# created or listed it, into the operations on that object) ---

STATEFUL_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


SEEDED = {"member_id": "M100002", "course_code": "CEU-100", "product_code": "CEU-100"}
"""Body fields naming another object get one the seed made (a random one is only ever a 404)."""


def _restorer(db: Database) -> Callable[[], None]:
    """A function that puts the (SQLite) database back as it is now, WAL and all."""
    path = db.engine.url.database
    saved = sqlite3.connect(":memory:")
    with contextlib.closing(sqlite3.connect(path)) as live:
        live.backup(saved)

    def restore() -> None:
        db.dispose()
        with contextlib.closing(sqlite3.connect(path)) as live:
            saved.backup(live)

    return restore


def _run_statefully(schema: Any, db: Database) -> None:
    """Every scenario starts from the seeded database: what a scenario creates never changes what the next
    one is generated from (hypothesis replays a scenario's choices and expects the same answers)."""
    restore = _restorer(db)

    class Calls(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            restore()

        def before_call(self, case: Any) -> None:
            _aim(case)
            if isinstance(case.body, dict):  # objects the seed made, so producers succeed and links lead on
                case.body.update({name: value for name, value in SEEDED.items() if name in case.body})

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": ADMIN}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            _judge(case, response)

    Calls.run(settings=STATEFUL_SETTINGS)


@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_call_sequences_along_the_links_never_fail(
    app: str, db: Database, request: pytest.FixtureRequest
) -> None:
    schema = request.getfixturevalue(f"{app}_schema")
    links = sum(
        len(response.get("links", {}))
        for item in schema.raw_schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for response in operation.get("responses", {}).values()
    )
    assert links >= 10  # the documents link their operations (simulator.core.openapi_links)
    _run_statefully(schema.include(path_regex="/api/") if app == "lms" else schema, db)
