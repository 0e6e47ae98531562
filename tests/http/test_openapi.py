"""Each app serves a valid OpenAPI document generated from its code, and a docs page."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.conftest import ADMIN_KEY


@pytest.mark.parametrize("app_name", ["console", "ams", "lms"])
def test_openapi_document_is_valid(app_name: str, request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue(app_name)
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert "/healthz" in spec["paths"]
    docs = client.get("/docs/")
    assert docs.status_code == 200
    assert "swagger" in client.get("/docs/swagger").get_data(as_text=True).lower()


def test_control_api_documents_its_endpoints(console: Any) -> None:
    paths = console.get("/openapi.json").get_json()["paths"]
    for path in ("/api/tenants", "/api/tenants/{tenant}/settings", "/api/tenants/{tenant}/clock/advance"):
        assert path in paths


@pytest.mark.parametrize("app_name", ["console", "ams", "lms"])
def test_healthz_reports_app_version_and_database(app_name: str, request: pytest.FixtureRequest) -> None:
    body = request.getfixturevalue(app_name).get("/healthz").get_json()
    assert body["app"] == app_name
    assert body["database"] == "ok"
    assert body["version"]


def test_query_models_are_documented_and_validated_with_a_cached_schema(lms: Any, console: Any) -> None:
    """Query models answer flask-openapi3's per-request schema lookup from a cache; nothing else changes."""
    from simulator.console.journal_api import JournalQuery
    from simulator.lms.sso.views import LoginQuery

    assert LoginQuery.model_json_schema() is LoginQuery.model_json_schema()
    assert JournalQuery.model_json_schema() is not LoginQuery.model_json_schema()
    assert "return_to" in LoginQuery.model_json_schema()["properties"]
    parameters = lms.get("/openapi.json").get_json()["paths"]["/t/{tenant}/login"]["get"]["parameters"]
    assert "return_to" in {parameter["name"] for parameter in parameters}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for _ in range(2):  # the second request is answered from the cached schema
        assert console.get("/api/scenario-runs?limit=2", headers=admin).status_code == 200
        refused = console.get("/api/scenario-runs?limit=not-a-number", headers=admin)
        assert refused.status_code == 422
        assert refused.content_type == "application/problem+json"


@pytest.mark.parametrize("app_name", ["console", "ams", "lms"])
def test_every_operation_documents_what_it_answers(app_name: str, request: pytest.FixtureRequest) -> None:
    """Each operation declares a success (or redirect), and every success with a body has a schema:
    schemathesis checks answers against them and typed clients are generated from them."""
    spec = request.getfixturevalue(app_name).get("/openapi.json").get_json()
    undocumented = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            statuses = operation.get("responses", {})
            if not any(status[0] in "23" for status in statuses):
                undocumented.append(f"{method.upper()} {path}: no success response")
            for status, response in statuses.items():
                if status[0] != "2" or status == "204":
                    continue
                media = response.get("content") or {}
                if not media or not all(content.get("schema") for content in media.values()):
                    undocumented.append(f"{method.upper()} {path} {status}: no schema")
    assert undocumented == []
