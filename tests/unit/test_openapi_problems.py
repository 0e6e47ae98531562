"""The served OpenAPI documents name the error answers the sandbox really sends (4xx: problem+json)."""

from __future__ import annotations

import copy
from typing import Any

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.core.errors import PROBLEM_CONTENT_TYPE
from simulator.core.openapi_problems import document_problems

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_every_error_answer_of_every_document_is_problem_json(config: SandboxConfig, db: Database) -> None:
    from simulator.ams.app import create_app as ams
    from simulator.console.app import create_app as console
    from simulator.lms.app import create_app as lms

    for create_app in (console, ams, lms):
        document = create_app(config, db).test_client().get("/openapi.json").get_json()
        assert "ValidationErrorModel" not in str(document)
        for path, method, operation in _operations(document):
            for status, response in operation["responses"].items():
                if not status.startswith("4") or "content" not in response:
                    continue
                content = set(response["content"])  # problem+json, or a page for a browser
                assert content and content <= {PROBLEM_CONTENT_TYPE, "text/html"}, (method, path, status)
            if operation.get("requestBody", {}).get("content", {}).get("application/json"):
                assert {"400", "415", "422"} <= set(operation["responses"]), (method, path)
            if operation.get("security", document.get("security")):
                assert {"401", "429"} <= set(operation["responses"]), (method, path)


def test_a_tenant_page_documents_its_html_404_and_an_api_does_not() -> None:
    problem = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    document = {
        "paths": {
            "/t/{tenant}/login": {"get": {"responses": {"404": copy.deepcopy(problem)}}},
            "/t/{tenant}/api/members": {"get": {"responses": {"404": copy.deepcopy(problem)}}},
        }
    }

    document_problems(document, api_prefixes=("/api/",))
    again = document_problems(copy.deepcopy(document), api_prefixes=("/api/",))

    page = document["paths"]["/t/{tenant}/login"]["get"]["responses"]["404"]["content"]
    api = document["paths"]["/t/{tenant}/api/members"]["get"]["responses"]["404"]["content"]
    assert set(page) == {PROBLEM_CONTENT_TYPE, "text/html"}
    assert set(api) == {PROBLEM_CONTENT_TYPE}
    assert again == document  # correcting a corrected document changes nothing
