"""OpenAPI links (OpenAPI 3.0 §4.7.20) between the operations of a generated document.

A client (or schemathesis's stateful tests) follows a link from an answer to the next call: the member
that ``POST /t/{tenant}/api/members`` created is the ``{member_id}`` of ``GET``, ``PATCH`` and
``DELETE /t/{tenant}/api/members/{member_id}`` and of everything under it. :func:`document_links` adds
them by one rule, so a new endpoint is linked without being named here:

- a **producer** is an operation whose success answer is a JSON object: one that names an object
  (``POST`` a new one, ``GET`` one) or lists them (an array of objects among its properties, the first
  item's fields used);
- a **consumer** is an operation on a path under the producer's, whose first new path parameter is a
  field of that object, or is the object's ``id``;
- the consumer's other path parameters must be the producer's own, and are passed on from its request
  (``$request.path.tenant``).

Links are named after the consumer's ``operationId``. Adding them twice changes nothing.

Example::

    document_links(document)
    document["paths"]["/t/{tenant}/api/members"]["post"]["responses"]["201"]["links"]
    # {"members_get_member_...": {"operationId": "members_get_member_...",
    #   "parameters": {"member_id": "$response.body#/member_id", "tenant": "$request.path.tenant"}}}
"""

from __future__ import annotations

import re
from typing import Any

_METHODS = ("get", "put", "post", "delete", "patch")
_PARAMETER = re.compile(r"{(\w+)}")


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document.get("components", {}).get("schemas", {}).get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def _fields(document: dict[str, Any], response: dict[str, Any]) -> dict[str, str]:
    """{field: JSON pointer} of the object a success answer names, or of the first item it lists."""
    media = (response.get("content") or {}).get("application/json", {})
    properties = _schema(document, media.get("schema") or {}).get("properties") or {}
    fields = {name: f"/{name}" for name in properties}
    for name, declared in properties.items():
        prop = _schema(document, declared)
        items = _schema(document, prop.get("items") or {})
        if prop.get("type") == "array":
            listed = items.get("properties") or {}
            fields.update({field: f"/{name}/0/{field}" for field in listed if field not in fields})
    return fields


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document.get("paths", {}).items()
        for method in _METHODS
        if method in item
    ]


def _link(
    producer_path: str, consumer_path: str, consumer: dict[str, Any], fields: dict[str, str]
) -> dict[str, Any] | None:
    """The link from a producer's answer to ``consumer``, or None when its parameters cannot all be filled."""
    if "operationId" not in consumer or not consumer_path.startswith(producer_path + "/{"):
        return None
    new = _PARAMETER.match(consumer_path, len(producer_path) + 1)
    assert new is not None
    source = fields.get(new.group(1)) or fields.get("id")
    if source is None:
        return None
    parameters = {new.group(1): f"$response.body#{source}"}
    known = set(_PARAMETER.findall(producer_path))
    for name in _PARAMETER.findall(consumer_path):
        if name in parameters:
            continue
        if name not in known:
            return None  # a second new parameter: this answer does not name it
        parameters[name] = f"$request.path.{name}"
    return {"operationId": consumer["operationId"], "parameters": parameters}


def document_links(document: dict[str, Any]) -> dict[str, Any]:
    """Add the links of ``document`` (see the module docstring) to its success answers; returns it."""
    operations = _operations(document)
    for path, _method, operation in operations:
        for status, response in (operation.get("responses") or {}).items():
            if not status.startswith("2"):
                continue
            fields = _fields(document, response)
            if not fields:
                continue
            for consumer_path, _consumer_method, consumer in operations:
                link = _link(path, consumer_path, consumer, fields)
                if link is not None:
                    response.setdefault("links", {})[consumer["operationId"]] = link
    return document
