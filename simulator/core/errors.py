"""The one error family of the sandbox, and its rendering as RFC 9457 ``application/problem+json``.

Every error a client can cause is a :class:`SandboxError` with a stable ``code`` (part of the API
contract: clients and tests match on it), an HTTP status and a plain-sentence message. Views never
build error responses by hand: they raise, and :func:`problem_response` renders.
"""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ams-lms-sandbox:problem:"


class SandboxError(Exception):
    """Base of every error the sandbox reports to a user."""

    code = "sandbox_error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.errors = errors or []
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        problem: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": _TITLES.get(self.http_status, "Error"),
            "status": self.http_status,
            "code": self.code,
            "detail": self.message,
        }
        if instance:
            problem["instance"] = instance
        if self.errors:
            problem["errors"] = self.errors
        return problem


class ConfigError(SandboxError):
    code = "invalid_configuration"
    http_status = 500


class BadRequest(SandboxError):
    code = "bad_request"
    http_status = 400


class Unauthorized(SandboxError):
    code = "unauthorized"
    http_status = 401

    def __init__(
        self, message: str = "A valid API key is required: send 'Authorization: Bearer KEY'."
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="sandbox"'})


class Forbidden(SandboxError):
    code = "forbidden"
    http_status = 403


class NotFound(SandboxError):
    code = "not_found"
    http_status = 404


class Conflict(SandboxError):
    code = "conflict"
    http_status = 409


class ValidationFailed(SandboxError):
    """Input that parsed but broke a rule; ``errors`` names each offending field."""

    code = "validation_failed"
    http_status = 422


_OBJECT_EXPECTED = frozenset({"model_type", "model_attributes_type", "dataclass_type"})
"""pydantic error types whose message names a Python class ("… instance of TenantCreate")."""


def validation_failed_from_pydantic(
    exc: Any, prefix: str = "", message: str | None = None
) -> ValidationFailed:
    """Turn a ``pydantic.ValidationError`` into a :class:`ValidationFailed` naming each field.

    Messages are pydantic's, except where pydantic names one of our classes: those say what the client
    should send instead (a JSON object).
    """
    errors = []
    for err in exc.errors(include_url=False):
        location = ".".join(str(part) for part in err["loc"])
        field = f"{prefix}.{location}" if prefix and location else (prefix or location)
        text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] in _OBJECT_EXPECTED:
            text = "Input should be a JSON object"
        errors.append({"field": field or "(body)", "message": text})
    if message is None:
        first = errors[0] if errors else {"field": "(body)", "message": "invalid"}
        message = f"Invalid value for '{first['field']}': {first['message']}."
        if len(errors) > 1:
            message += (
                f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} listed in 'errors'.)"
            )
    return ValidationFailed(message, errors=errors)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
