"""Tenant-isolation probes generated from an app's served OpenAPI document.

:func:`operations` lists every operation of a document; :func:`minimal_body` fills an operation's
required request body from its JSON schema; :class:`Harvest` collects the ids a tenant's list endpoints
answer with, so probes can aim at real objects; :func:`tenant_rows` dumps every row a tenant owns, so
a probe can prove it changed nothing; :func:`leaked` finds another tenant's values in a response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

import simulator.models  # noqa: F401 - every tenant-owned table is on the metadata
from simulator.core.db import Base, Database
from simulator.core.models import Tenant

METHODS = ("get", "post", "put", "patch", "delete")
ID_KEY = re.compile(r"^(id|\w+_id|\w+_code|number|code|name|email|kid)$")
"""Response fields whose values name an object (and so are worth aiming a probe at, or leaking)."""
PROBE_STRINGS = (
    "iso-probe",
    "4242424242424242",
    "https://probe.example.org/callback",
    "123",
    "iso.probe@example.org",
)
"""Strings tried, in order, for a required string field: the first its pattern and lengths accept."""
APPEND_ONLY_TABLES = frozenset({"journal_entries"})
"""Tables every request to a tenant's URL adds to, whoever calls: only their existing rows must stay."""


@dataclass(frozen=True)
class Operation:
    """One (method, path) of a served OpenAPI document."""

    app: str
    method: str
    path: str
    spec: dict[str, Any]
    document: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        return f"{self.app} {self.method.upper()} {self.path}"

    @property
    def params(self) -> list[str]:
        """Path parameters other than ``tenant``, in URL order."""
        return [name for name in re.findall(r"{(\w+)}", self.path) if name != "tenant"]

    @property
    def tenant_scoped(self) -> bool:
        return "{tenant}" in self.path

    @property
    def secured(self) -> bool:
        return bool(self.spec.get("security"))

    def url(self, tenant: str, values: dict[str, Any]) -> str:
        filled = {"tenant": tenant, **{name: quote(str(value), safe="") for name, value in values.items()}}
        return self.path.format(**filled)

    def param_type(self, param: str) -> str:
        """The JSON type of a path parameter (``string`` unless the document says otherwise)."""
        for parameter in self.spec.get("parameters", []):
            if parameter.get("in") == "path" and parameter["name"] == param:
                return parameter.get("schema", {}).get("type", "string")
        return "string"

    def collection(self, param: str) -> str:
        """The path up to ``{param}``: where the objects ``param`` names are listed, if anywhere."""
        return self.path.split("/{" + param + "}", 1)[0]

    def body(
        self, fill: Callable[[str], Any], extra: dict[str, Any] | None = None
    ) -> tuple[str, bytes] | None:
        """(content type, bytes) of a minimal valid request body (plus ``extra`` fields), or None when the
        operation takes none."""
        content = self.spec.get("requestBody", {}).get("content", {})
        if not content:
            return None
        content_type = "application/json" if "application/json" in content else next(iter(content))
        document = minimal_body(content[content_type].get("schema", {}), self.document, fill)
        if extra:
            document = {**document, **extra}
        return content_type, json.dumps(document).encode()


def operations(app: str, document: dict[str, Any]) -> list[Operation]:
    """Every operation of ``document``, in document order."""
    return [
        Operation(app, method, path, spec, document)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _string(schema: dict[str, Any], name: str) -> str:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 10_000)
    hinted = "https:" if re.search(r"ur[il]s?$", name) else "iso." if name.endswith("email") else None
    for candidate in sorted(PROBE_STRINGS, key=lambda text: not (hinted and text.startswith(hinted))):
        if low <= len(candidate) <= high and re.search(schema.get("pattern", ""), candidate):
            return candidate
    return "x" * max(low, 1)


def _number(schema: dict[str, Any]) -> int | float:
    if "minimum" in schema:
        value = schema["minimum"]
    elif "exclusiveMinimum" in schema:
        value = schema["exclusiveMinimum"] + 1
    else:
        value = 1
    value = min(value, schema.get("maximum", value))
    return int(value) if schema.get("type") == "integer" else float(value)


def minimal_body(
    schema: dict[str, Any], document: dict[str, Any], fill: Callable[[str], Any], name: str = ""
) -> Any:
    """The smallest instance of ``schema``: its required fields only, each at its simplest valid value.

    ``fill(field_name)`` may supply a field's value (a real id of the probed tenant); None leaves it
    to the schema.
    """
    schema = _resolved(schema, document)
    if name and (value := fill(name)) is not None:
        return value
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for option in schema.get("anyOf", schema.get("oneOf", [])):
        if _resolved(option, document).get("type") != "null":
            return minimal_body(option, document, fill, name)
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            field_name: minimal_body(properties.get(field_name, {}), document, fill, field_name)
            for field_name in schema.get("required", [])
        }
    if kind == "array":
        items = schema.get("items", {})
        return [minimal_body(items, document, fill, name) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return _string(schema, name)
    if kind in ("integer", "number"):
        return _number(schema)
    if kind == "boolean":
        return False
    return None


def _id_fields(document: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every id-like field anywhere in a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if ID_KEY.match(key) and isinstance(value, str | int) and not isinstance(value, bool):
                yield key, value
            else:
                yield from _id_fields(value)
    elif isinstance(document, list):
        for item in document:
            yield from _id_fields(item)


@dataclass
class Harvest:
    """The ids one tenant's GET endpoints answered with, by (path template, field) and by field."""

    by_collection: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    by_key: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, path: str, document: Any) -> None:
        for key, value in _id_fields(document):
            for values in (self.by_collection.setdefault((path, key), []), self.by_key.setdefault(key, [])):
                if value not in values:
                    values.append(value)

    def candidates(self, operation: Operation, param: str) -> list[Any]:
        """Real values for ``param``, of its type: from the list at its collection (its field, else
        ``id``), else from any response field of that name (or ending ``_{param}``)."""
        wanted = int if operation.param_type(param) == "integer" else str
        collection = operation.collection(param)
        for key in (param, "id"):
            values = [
                value for value in self.by_collection.get((collection, key), []) if type(value) is wanted
            ]
            if values:
                return values
        return [
            value
            for key, values in self.by_key.items()
            if key == param or key.endswith(f"_{param}")
            for value in values
            if type(value) is wanted
        ]

    def strings(self) -> set[str]:
        return {value for values in self.by_key.values() for value in values if isinstance(value, str)}


def harvest(
    client: Any, ops: list[Operation], tenant: str, tenant_paths_key: dict[str, str], own_key: dict[str, str]
) -> Harvest:
    """What ``tenant``'s GET endpoints answer: lists first, then objects the lists name (a few each).

    Tenant URLs are read with ``tenant_paths_key`` (the admin key); URLs without a tenant with
    ``own_key`` (the tenant's key: the admin would see every tenant's objects there).
    """
    found = Harvest()
    gets = [op for op in ops if op.method == "get" and op.secured]
    for round_ops in ([op for op in gets if not op.params], [op for op in gets if op.params]):
        for op in round_ops:
            choices = [found.candidates(op, param)[:2] for param in op.params]
            if not all(choices):
                continue
            for index in range(max(map(len, choices), default=1)):
                values = {
                    param: options[index % len(options)]
                    for param, options in zip(op.params, choices, strict=True)
                }
                headers = tenant_paths_key if op.tenant_scoped else own_key
                response = client.get(op.url(tenant, values), headers=headers)
                if response.status_code == 200 and response.is_json:
                    found.add(op.path, response.get_json())
    return found


def tenant_rows(db: Database, tenant_id: str) -> dict[str, list[str]]:
    """Every row ``tenant_id`` owns, table by table (its tenant row too), each as sorted text."""
    rows: dict[str, list[str]] = {}
    with db.read() as session:
        tenant = Tenant.__table__
        rows["tenants"] = [
            repr(tuple(row)) for row in session.execute(select(tenant).where(tenant.c.id == tenant_id))
        ]
        for table in Base.metadata.sorted_tables:
            if "tenant_id" in table.c:
                result = session.execute(select(table).where(table.c.tenant_id == tenant_id))
                rows[table.name] = sorted(repr(tuple(row)) for row in result)
    return rows


def changes(
    before: dict[str, list[str]], after: dict[str, list[str]], logs: frozenset[str] = frozenset()
) -> list[str]:
    """Tables whose rows differ; in append-only tables (and ``logs``) only rows that went missing or
    changed count."""
    changed = []
    for table, rows in before.items():
        now = after[table]
        if table in APPEND_ONLY_TABLES | logs:
            if not set(rows) <= set(now):
                changed.append(table)
        elif rows != now:
            changed.append(table)
    return changed


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict | list):
        for item in document.values() if isinstance(document, dict) else document:
            yield from _strings(item)


def leaked(response: Any, secrets: set[str], tenant_id: str, sent: str) -> list[str]:
    """Values of another tenant in a response's body or redirect: its ``secrets``, its ``/t/{tenant_id}/``
    URLs or its id as a JSON value, leaving out what the request itself carried (``sent``: its URL and
    body)."""
    text = response.headers.get("Location", "") + response.get_data(as_text=True)
    found = [value for value in secrets if value in text and value not in sent]
    if f"/t/{tenant_id}/" in text and f"/t/{tenant_id}/" not in sent:
        found.append(f"/t/{tenant_id}/")
    if response.is_json and tenant_id in _strings(response.get_json(silent=True)):
        found.append(tenant_id)
    return sorted(found)
