"""Error answers in the OpenAPI documents: what the sandbox sends, not flask-openapi3's defaults.

Every error is an RFC 9457 problem document served as ``application/problem+json`` (see
``simulator.core.web.problem_response``). flask-openapi3 documents a response model as
``application/json``, and gives an operation that declares no 422 a 422 of its own validation-error
list. :func:`document_problems` corrects a generated document in place (once; calling it again
changes nothing):

- a response documented as a ``Problem`` is ``application/problem+json``;
- an operation with a body, a query, header or cookie parameter, or a path parameter its schema
  constrains answers 422 with a ``Problem`` when they do not validate (a plain path segment always
  validates, the route's converter 404s a non-integer, and an unknown ``/t/{tenant}`` is a 404 before
  anything is validated: an operation with nothing else documents no 422 unless its route declares one);
- an operation with a JSON body answers 400 (``invalid_json``) and 415 (a body not declared JSON);
- an operation that requires a key answers 401 without one, and 429 to a client locked out by its wrong
  keys (``simulator.core.key_attempts``);
- a page of a tenant (a path under ``/t/{tenant}`` outside ``api_prefixes``) answers an unknown
  tenant with an HTML 404 page when the client prefers HTML (a browser).

Example::

    document_problems(app.api_doc, api_prefixes=("/api/", "/gateway/"))
"""

from __future__ import annotations

from typing import Any

from simulator.core.errors import PROBLEM_CONTENT_TYPE

PROBLEM_REF = "#/components/schemas/Problem"
_PROBLEM_CONTENT = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
_STATUS_TEXT = {
    "400": "Bad Request: the body is not valid JSON",
    "401": "Unauthorized: no valid API key",
    "415": "Unsupported Media Type: the body is not declared JSON",
    "422": "Unprocessable Content: parameters or body do not validate",
    "429": "Too Many Requests: this client sent too many wrong keys; retry after Retry-After seconds",
}
TENANT_PREFIX = "/t/{tenant}"
_HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}
_PATH_CONSTRAINTS = {"pattern", "minLength", "maxLength", "enum", "const", "minimum", "maximum"}
"""What a path parameter's schema may demand beyond its route converter (which 404s a non-integer)."""
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _is_problem(response: dict[str, Any]) -> bool:
    content = response.get("content") or {}
    schemas = [media.get("schema") or {} for media in content.values()]
    return bool(schemas) and all(schema.get("$ref") == PROBLEM_REF for schema in schemas)


def _is_default_validation_error(response: dict[str, Any]) -> bool:
    schema = (response.get("content") or {}).get("application/json", {}).get("schema") or {}
    return schema.get("type") == "array" and "ValidationErrorModel" in str(schema.get("items"))


def _problem(status: str) -> dict[str, Any]:
    return {"description": _STATUS_TEXT[status], "content": dict(_PROBLEM_CONTENT)}


def _can_fail_validation(path: str, operation: dict[str, Any]) -> bool:
    if operation.get("requestBody"):
        return True
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path":
            return True
        if parameter["name"] == "tenant" and path.startswith(TENANT_PREFIX):
            continue  # an unknown tenant is a 404 before anything is validated
        if set(parameter.get("schema") or {}) & _PATH_CONSTRAINTS:
            return True
    return False


def _requires_key(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    return bool(operation.get("security", document.get("security")))


def _is_tenant_page(path: str, api_prefixes: tuple[str, ...]) -> bool:
    rest = path.removeprefix(TENANT_PREFIX)
    return rest != path and not rest.startswith(api_prefixes)


def document_problems(document: dict[str, Any], api_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Document the sandbox's error answers in ``document`` (see the module docstring); returns it."""
    for path, path_item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if _is_default_validation_error(responses.get("422", {})):
                del responses["422"]
            if "application/json" in (operation.get("requestBody") or {}).get("content", {}):
                for status in ("400", "415"):
                    responses.setdefault(status, _problem(status))
            if _can_fail_validation(path, operation):
                responses.setdefault("422", _problem("422"))
            if _requires_key(document, operation):
                responses.setdefault("401", _problem("401"))
                responses.setdefault("429", _problem("429"))
            for response in responses.values():
                if _is_problem(response):
                    response["content"] = dict(_PROBLEM_CONTENT)
            if "404" in responses and _is_tenant_page(path, api_prefixes):
                responses["404"]["content"] = {**responses["404"].get("content", {}), **_HTML_PAGE}
    schemas = document.get("components", {}).get("schemas", {})
    if not any("ValidationErrorModel" in str(item) for item in document.get("paths", {}).values()):
        schemas.pop("ValidationErrorModel", None)
    return document
