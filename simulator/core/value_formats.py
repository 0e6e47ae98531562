"""Writeback value formats: how a learning event becomes the record an AMS receives.

A format is either the name of a ready-made one — ``ce_credit`` (a flat CE-credit record), ``activity``
(an "activity table" row: type/subtype/units/effective date/user fields, as iMIS-style AMSs keep), or
``xapi`` (an xAPI 1.0.3 statement) — or a **custom template**: a JSON object whose string values are
Jinja2 templates rendered in a sandbox (``jinja2.sandbox.ImmutableSandboxedEnvironment``) over the event.
A value that is exactly one ``{{ expression }}`` keeps the expression's type (number, boolean, null).

The event context every format sees (see docs/writeback.md): ``event_id``, ``trigger``, ``member_id``,
``course_code``, ``course_title``, ``course_kind``, ``occurred_at`` (UTC, ISO 8601),
``occurred_at_local`` and ``completion_date`` (in the tenant's time zone), ``completion_date_utc``,
``timezone``, ``score``, ``pass_mark``, ``passed``, ``credits``, ``credit_type``, ``contact_hours``,
``certificate_number``, ``minutes_attended``, ``lms_url``.

Example::

    record = render_format("ce_credit", context)
    validate_format('{"who": "{{ member_id }}", "hours": "{{ credits }}"}')   # raises ValueError if bad
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

XAPI_VERSION = "1.0.3"
ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
XAPI_VERB_BY_TRIGGER = {
    "course.completed": "completed",
    "course.passed": "passed",
    "course.failed": "failed",
    "webinar.attended": "attended",
    "certificate.issued": "completed",
    "credits.awarded": "completed",
    "enrollment.started": "registered",
}
XAPI_ACTIVITY_TYPES = {
    "course": "http://adlnet.gov/expapi/activities/course",
    "webinar": "http://adlnet.gov/expapi/activities/meeting",
}
CREDITS_EXTENSION = "https://ams-lms-sandbox.dev/xapi/extensions/ce-credits"
STATEMENT_NAMESPACE = uuid.UUID("6f1d3c1e-5a53-4c1e-9a4e-3e6f1c0de5a1")
BUILT_IN_FORMATS = ("ce_credit", "activity", "xapi")
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

SAMPLE_CONTEXT: dict[str, Any] = {
    "event_id": "evt_sample",
    "trigger": "course.passed",
    "member_id": "M000001",
    "course_code": "ETH-101",
    "course_title": "Professional Ethics in Practice",
    "course_kind": "course",
    "occurred_at": "2026-03-01T15:30:00+00:00",
    "occurred_at_local": "2026-03-01T10:30:00-05:00",
    "completion_date": "2026-03-01",
    "completion_date_utc": "2026-03-01",
    "timezone": "America/New_York",
    "score": 88.0,
    "pass_mark": 70.0,
    "passed": True,
    "credits": 2.0,
    "credit_type": "CLE",
    "contact_hours": 2.0,
    "certificate_number": "CERT-SAMPLE-0001",
    "minutes_attended": None,
    "lms_url": "http://127.0.0.1:8002/t/demo",
}
"""A complete event context: custom templates are test-rendered against it when settings are saved."""


def ce_credit(context: dict[str, Any]) -> dict[str, Any]:
    """A flat CE-credit record (one row of a CE transcript)."""
    return {
        "member_id": context["member_id"],
        "activity_code": context["course_code"],
        "activity_title": context["course_title"],
        "activity_kind": context["course_kind"],
        "credit_type": context["credit_type"],
        "credits": context["credits"],
        "contact_hours": context["contact_hours"],
        "completion_date": context["completion_date"],
        "completed_at": context["occurred_at"],
        "score": context["score"],
        "passed": context["passed"],
        "certificate_number": context["certificate_number"],
    }


def activity(context: dict[str, Any]) -> dict[str, Any]:
    """An "activity table" record: type, subtype, units, effective date and free user fields."""
    return {
        "member_id": context["member_id"],
        "type": "EDUCATION",
        "subtype": context["course_kind"].upper(),
        "code": context["course_code"],
        "description": context["course_title"],
        "units": context["credits"],
        "unit_type": context["credit_type"],
        "effective_date": context["completion_date"],
        "user_fields": {
            "trigger": context["trigger"],
            "score": context["score"],
            "passed": context["passed"],
            "certificate_number": context["certificate_number"],
            "minutes_attended": context["minutes_attended"],
            "completed_at": context["occurred_at"],
        },
    }


def xapi(context: dict[str, Any]) -> dict[str, Any]:
    """An xAPI statement (xAPI 1.0.3 §2.4): actor by account, ADL verb, activity, result, timestamp."""
    verb = XAPI_VERB_BY_TRIGGER.get(context["trigger"], "completed")
    result: dict[str, Any] = {"completion": context["trigger"] != "enrollment.started"}
    if context["passed"] is not None:
        result["success"] = bool(context["passed"])
    if context["score"] is not None:
        result["score"] = {
            "scaled": round(context["score"] / 100.0, 4),
            "raw": context["score"],
            "min": 0,
            "max": 100,
        }
    if context["minutes_attended"] is not None:
        result["duration"] = f"PT{int(context['minutes_attended'])}M"
    if context["credits"]:
        result["extensions"] = {
            CREDITS_EXTENSION: {
                "amount": context["credits"],
                "type": context["credit_type"],
                "contact_hours": context["contact_hours"],
                "certificate_number": context["certificate_number"],
            }
        }
    return {
        "id": str(uuid.uuid5(STATEMENT_NAMESPACE, f"{context['event_id']}:{context['trigger']}")),
        "version": XAPI_VERSION,
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": context["lms_url"], "name": context["member_id"]},
        },
        "verb": {"id": ADL_VERBS + verb, "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": f"{context['lms_url']}/courses/{context['course_code']}",
            "definition": {
                "name": {"en-US": context["course_title"]},
                "type": XAPI_ACTIVITY_TYPES.get(context["course_kind"], XAPI_ACTIVITY_TYPES["course"]),
            },
        },
        "result": result,
        "timestamp": context["occurred_at"],
    }


_BUILT_INS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ce_credit": ce_credit,
    "activity": activity,
    "xapi": xapi,
}


def format_name(value_format: str) -> str:
    """The format's name on the wire: the built-in's name, or ``custom``."""
    return value_format if value_format in _BUILT_INS else "custom"


def _render_value(template: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {key: _render_value(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [_render_value(value, context) for value in template]
    if not isinstance(template, str) or "{" not in template:
        return template
    whole = _WHOLE_EXPRESSION.match(template)
    if whole and "}}" not in whole.group(1) and "{{" not in whole.group(1):
        value = _environment.compile_expression(whole.group(1).strip(), undefined_to_none=False)(**context)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value
    return _environment.from_string(template).render(**context)


def parse_template(value_format: str) -> dict[str, Any]:
    """The JSON object of a custom template (raises ``ValueError`` when it is not one)."""
    try:
        template = json.loads(value_format)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"must be one of {', '.join(BUILT_IN_FORMATS)} or a JSON object template: {exc.msg} "
            f"at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(template, dict):
        raise ValueError("a custom template must be a JSON object")
    return template


def render_format(value_format: str, context: dict[str, Any]) -> dict[str, Any]:
    """Render the record for ``context``; raises ``ValueError`` naming the reason when it cannot."""
    built_in = _BUILT_INS.get(value_format)
    if built_in is not None:
        return built_in(context)
    template = parse_template(value_format)
    try:
        record = _render_value(template, context)
    except TemplateError as exc:
        raise ValueError(f"template error: {exc.message or exc}") from exc
    except LookupError as exc:
        raise ValueError(f"template error: the template looks up {exc}, which is not there") from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise ValueError(f"template error: {exc}") from exc
    json.dumps(record)
    return record


def validate_format(value_format: str) -> str:
    """Check that ``value_format`` renders against :data:`SAMPLE_CONTEXT`; returns it or raises ValueError."""
    if value_format in _BUILT_INS:
        return value_format
    try:
        render_format(value_format, SAMPLE_CONTEXT)
    except TypeError as exc:
        raise ValueError(f"the rendered record is not JSON: {exc}") from exc
    return value_format
