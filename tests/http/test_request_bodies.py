"""JSON request bodies on every app (console, AMS, LMS): a document nested too deeply is invalid JSON
(400, and journaled like any request), a body that is not JSON is 415, and no answer names one of the
sandbox's Python classes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from simulator.core.db import Database
from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.webhooks import sign_headers
from tests.conftest import ADMIN, TenantHandle

PROBLEM = "application/problem+json"
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
DEEP_ARRAY = "[" * 5000 + "]" * 5000
JSON_REQUIRED = "The request body must be JSON (Content-Type: application/json)."
CLASS_NAMES = (
    "TenantCreate",
    "MemberCreate",
    "EnrollmentCreate",
    "TokenIn",
    "CardIn",
    "instance of",
    "dictionary",
)


@pytest.fixture
def acme(make_tenant: Any) -> TenantHandle:
    return make_tenant("acme")


@pytest.fixture
def endpoints(console: Any, ams: Any, lms: Any, acme: TenantHandle) -> dict[str, tuple[Any, str]]:
    """One JSON-body endpoint of each app: the client and the path to POST to."""
    return {
        "console": (console, "/api/tenants"),
        "ams": (ams, "/t/acme/api/members"),
        "lms": (lms, "/t/acme/api/enrollments"),
    }


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    document = response.get_json()
    assert document["code"] == code
    assert not any(name in json.dumps(document) for name in CLASS_NAMES), document
    return document


def journal(console: Any, tenant: TenantHandle) -> list[dict[str, Any]]:
    response = console.get(
        f"/api/tenants/{tenant.id}/journal", query_string={"limit": 1000}, headers=tenant.auth
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["entries"]


# --- nested too deeply ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_OBJECT, DEEP_ARRAY], ids=["objects", "arrays"])
@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_json_nested_5000_deep_is_invalid_json_not_a_500(
    endpoints: dict[str, tuple[Any, str]], app: str, body: str
) -> None:
    client, path = endpoints[app]

    response = client.post(path, data=body, content_type="application/json", headers=ADMIN)

    assert problem(response, 400, "invalid_json")["detail"] == "The request body is not valid JSON."
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("app", ["ams", "lms"])
def test_a_deeply_nested_request_is_journaled_like_any_other(
    endpoints: dict[str, tuple[Any, str]], console: Any, acme: TenantHandle, app: str
) -> None:
    client, path = endpoints[app]
    body = '{"password": "hunter2", "a":' + DEEP_OBJECT + "}"

    client.post(path, data=body, content_type="application/json", headers=ADMIN)

    [entry] = [entry for entry in journal(console, acme) if entry["path"] == path]
    assert (entry["app"], entry["method"], entry["status"]) == (app, "POST", 400)
    assert entry["request_body"].startswith('{"password": "[redacted]", "a":{"a":')
    assert "hunter2" not in entry["request_body"]
    assert json.loads(entry["response_body"])["code"] == "invalid_json"


def test_a_signed_writeback_nested_too_deeply_is_refused_as_invalid_json(
    ams: Any, db: Database, acme: TenantHandle
) -> None:
    with db.read() as session:
        secret = session.scalar(
            select(WebhookEndpoint.secret).where(
                WebhookEndpoint.tenant_id == "acme", WebhookEndpoint.name == "ams-writeback"
            )
        )
    body = DEEP_OBJECT.encode()
    headers = sign_headers(secret, "wb_deep", body)

    response = ams.post(
        "/t/acme/writeback/records", data=body, headers=headers, content_type="application/json"
    )

    problem(response, 400, "invalid_json")


# --- not JSON at all ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"id": "typed"}'),
        ("application/x-www-form-urlencoded", "id=typed"),
        (None, '{"id": "typed"}'),
    ],
    ids=["text", "form", "undeclared"],
)
@pytest.mark.parametrize("app", ["console", "ams", "lms"])
def test_a_body_that_is_not_declared_json_is_415(
    endpoints: dict[str, tuple[Any, str]], app: str, content_type: str | None, body: str
) -> None:
    client, path = endpoints[app]
    headers = {**ADMIN, **({"Content-Type": content_type} if content_type else {})}

    response = client.post(path, data=body, headers=headers)

    assert problem(response, 415, "unsupported_media_type")["detail"] == JSON_REQUIRED


def test_a_refused_tenant_is_not_created(console: Any) -> None:
    refused = console.post("/api/tenants", data="id=typed", content_type="text/plain", headers=ADMIN)

    problem(refused, 415, "unsupported_media_type")
    assert console.get("/api/tenants/typed", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [("", 422, "validation_failed"), ("null", 422, "validation_failed"), ("[1]", 422, "validation_failed")],
    ids=["empty", "null", "array"],
)
def test_json_that_is_not_an_object_says_so_without_class_names(
    console: Any, body: str, status: int, code: str
) -> None:
    response = console.post("/api/tenants", data=body, content_type="application/json", headers=ADMIN)

    assert "object" in problem(response, status, code)["detail"]


def test_a_nested_field_that_is_not_an_object_names_the_field_not_the_class(
    ams: Any, acme: TenantHandle
) -> None:
    response = ams.post("/t/acme/gateway/v1/tokens", json={"card": "4242424242424242"}, headers=ADMIN)

    document = problem(response, 422, "validation_failed")
    assert document["errors"] == [{"field": "card", "message": "Input should be a JSON object"}]
