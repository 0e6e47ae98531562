"""Each app serves a valid OpenAPI document generated from its code, and a docs page."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate


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
