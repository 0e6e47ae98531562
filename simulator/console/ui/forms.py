"""Form handling shared by the console pages: validate a form with the API's own model, and report
each problem next to its field.

Example::

    body, errors = validate_form(TenantCreate, {"id": "Acme!"})
    errors  # {'id': 'Tenant ids are 1–63 lower-case letters, digits and dashes…'}
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from simulator.core.errors import SandboxError

Model = TypeVar("Model", bound=BaseModel)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The first message per field (dotted path; ``_form`` for the whole document)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "_form"
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(field, message)
    return errors


def sandbox_error_fields(error: SandboxError) -> dict[str, str]:
    """A service's error as field messages (its ``errors`` list, else the message on the whole form)."""
    fields = {item["field"]: item["message"] for item in error.errors if item.get("field")}
    return fields or {"_form": error.message}


def validate_form(model: type[Model], data: dict[str, Any]) -> tuple[Model | None, dict[str, str]]:
    """``model`` built from ``data`` (blank fields left out), or ``None`` and the field messages."""
    cleaned = {key: value for key, value in data.items() if value not in ("", None)}
    try:
        return model.model_validate(cleaned), {}
    except ValidationError as exc:
        return None, field_errors(exc)
