"""Console pages: a tenant's fault rules — the list in evaluation order with how often each matched and
fired, a form to add a rule (one labelled input per rule field, checked by the API's own
:class:`~simulator.core.faults.FaultRuleSpec`), and buttons to remove one rule or clear them all. Each
action calls the service the control API's ``/api/tenants/{t}/faults`` views call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import sandbox_error_fields
from simulator.core import faults
from simulator.core.errors import SandboxError, ValidationFailed
from simulator.core.faults import DelaySpec, FaultRuleSpec, LognormalParameters
from simulator.core.web import database

RULE_FIELDS = FaultRuleSpec.model_fields
MAX_RULE_ID = 2**63 - 1


def _described(name: str, extra: str = "") -> str:
    """The rule field's own description (from the model), with a note on how the form takes it."""
    description = RULE_FIELDS[name].description or ""
    return f"{description} {extra}".strip()


@dataclass(frozen=True)
class RuleInput:
    """One input of the add-a-rule form: ``name`` is the form field (a rule key, or ``delay_ms`` /
    ``delay_sigma`` for the two halves of ``delay``)."""

    name: str
    label: str
    help: str
    widget: str = "text"  # text, number, select or textarea
    options: tuple[tuple[str, str], ...] = ()
    attrs: str = ""


KIND_OPTIONS = (
    ("", "respond when a status is given, else only the delay"),
    ("respond", "respond (status, body, headers)"),
    ("connection_reset", "reset the connection"),
    ("empty_body", "empty body"),
    ("malformed_body", "malformed (truncated) JSON body"),
)

RULE_FORM: tuple[tuple[str, tuple[RuleInput, ...]], ...] = (
    (
        "Which requests",
        (
            RuleInput("name", "Name", _described("name")),
            RuleInput(
                "app", "App", _described("app"), "select", (("", "both"), ("ams", "AMS"), ("lms", "LMS"))
            ),
            RuleInput("method", "Method", _described("method", "Leave empty for any.")),
            RuleInput("path", "Path glob", _described("path", "Default '*'."), attrs='placeholder="*"'),
        ),
    ),
    (
        "What happens",
        (
            RuleInput("kind", "Kind", _described("kind"), "select", KIND_OPTIONS),
            RuleInput("status", "Status", _described("status"), "number"),
            RuleInput("body", "Body override", _described("body"), "textarea"),
            RuleInput(
                "content_type",
                "Content type",
                "Content-Type of the injected response.",
                attrs='placeholder="application/json"',
            ),
            RuleInput("headers", "Headers", _described("headers", "One 'Name: value' per line."), "textarea"),
            RuleInput("retry_after", "Retry-After", _described("retry_after"), "number"),
            RuleInput(
                "delay_ms",
                "Delay (ms)",
                f"{RULE_FIELDS['delay'].description} {DelaySpec.model_fields['fixed_ms'].description}",
                "number",
                attrs='step="any"',
            ),
            RuleInput(
                "delay_sigma",
                "Delay spread (sigma)",
                f"{LognormalParameters.model_fields['sigma'].description} Makes the delay lognormal, "
                "with the delay above as its median.",
                "number",
                attrs='step="any"',
            ),
        ),
    ),
    (
        "How often",
        (
            RuleInput(
                "probability",
                "Probability",
                _described("probability", "0 to 1; default 1."),
                "number",
                attrs='step="any"',
            ),
            RuleInput("seed", "Seed", _described("seed", "Default 0."), "number"),
            RuleInput("first_n", "First N", _described("first_n"), "number"),
            RuleInput("every_nth", "Every Nth", _described("every_nth"), "number"),
        ),
    ),
    (
        "For how long",
        (
            RuleInput("for", "For (duration)", _described("for_seconds"), attrs='placeholder="10 minutes"'),
            RuleInput(
                "active_until",
                "Active until",
                _described("active_until", "ISO 8601, e.g. 2025-03-01T09:30Z."),
            ),
        ),
    ),
)
INPUT_NAMES = frozenset(item.name for _, items in RULE_FORM for item in items)
PLAIN_FIELDS = INPUT_NAMES - {"headers", "delay_ms", "delay_sigma"}
KEEP_WHITESPACE = frozenset({"body"})
STORED_DEFAULTS = {
    field.alias or name: field.get_default(call_default_factory=True) for name, field in RULE_FIELDS.items()
}


def rule_document(form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The rule document a submitted form describes (empty inputs are not set), and messages for
    inputs that cannot even be read (a header line without a colon)."""
    values = {
        name: (form.get(name, "") if name in KEEP_WHITESPACE else form.get(name, "").strip())
        for name in INPUT_NAMES
    }
    document: dict[str, Any] = {name: values[name] for name in sorted(PLAIN_FIELDS) if values[name]}
    delay_ms, sigma = values["delay_ms"], values["delay_sigma"]
    if sigma:
        document["delay"] = {"lognormal": {"sigma": sigma} | ({"median_ms": delay_ms} if delay_ms else {})}
    elif delay_ms:
        document["delay"] = {"fixed_ms": delay_ms}
    errors: dict[str, str] = {}
    headers: dict[str, str] = {}
    for line in values["headers"].splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            errors["headers"] = f"'{line.strip()}' is not 'Name: value'."
            break
        headers[name.strip()] = value.strip()
    if headers:
        document["headers"] = headers
    return document, errors


def input_for(location: str) -> str:
    """The form input a rule field's error belongs to (``delay.lognormal.sigma`` → ``delay_sigma``);
    ``_form`` for problems with the rule as a whole."""
    top = location.split(".", maxsplit=1)[0]
    if top == "delay":
        return "delay_sigma" if location.endswith("sigma") else "delay_ms"
    return top if top in INPUT_NAMES else "_form"


def rule_errors(error: ValidationFailed) -> dict[str, str]:
    """Each message of a rejected rule next to its input (several for one input are joined)."""
    errors: dict[str, str] = {}
    for item in error.errors:
        target = input_for(item.get("field", ""))
        message = item["message"]
        errors[target] = f"{errors[target]}; {message}" if target in errors else message
    return errors


def shown_fields(rule: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of a stored rule worth showing: the path, and every field not at its default."""
    shown = []
    for key, value in rule.items():
        if key != "path" and value == STORED_DEFAULTS.get(key):
            continue
        if key == "headers":
            text = "; ".join(f"{name}: {header}" for name, header in value.items())
        elif key == "for":
            text = f"{value:g} s"
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = str(value)
        shown.append((key, text))
    return shown


def _render(tenant: Any, errors: dict[str, str], form: dict[str, str]) -> str:
    rules = faults.list_rules(database(), tenant.id)
    for row in rules:
        row["shown"] = shown_fields(row["rule"])
    return render_template(
        "ui/faults.html",
        title=f"Fault rules · {tenant.id}",
        tenant=tenant,
        rules=rules,
        rule_form=RULE_FORM,
        errors=errors,
        form=form,
    )


@ui.get("/tenants/<tenant>/faults", endpoint="faults")
@signed_in
def faults_page(tenant: str) -> Any:
    return _render(page_tenant(tenant), {}, {})


@ui.post("/tenants/<tenant>/faults", endpoint="add_fault")
@signed_in
def add_fault(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    document, errors = rule_document(request.form)
    try:
        spec = faults.parse_rule(document)
    except ValidationFailed as error:
        return _render(tenant_row, rule_errors(error) | errors, request.form.to_dict()), 422
    if errors:
        return _render(tenant_row, errors, request.form.to_dict()), 422
    try:
        rule = faults.append_rule(database(), tenant, spec)
    except SandboxError as error:
        return _render(tenant_row, sandbox_error_fields(error), request.form.to_dict()), error.http_status
    label = f" '{spec.name}'" if spec.name else ""
    flash(f"Added fault rule {rule['id']}{label}.")
    return redirect(url_for("ui.faults", tenant=tenant), code=303)


@ui.post("/tenants/<tenant>/faults/<int:rule_id>/remove", endpoint="remove_fault")
@signed_in
def remove_fault(tenant: str, rule_id: int) -> Any:
    page_tenant(tenant)
    if rule_id > MAX_RULE_ID:
        abort(404)
    faults.delete_rule(database(), tenant, rule_id)
    flash(f"Removed fault rule {rule_id}.")
    return redirect(url_for("ui.faults", tenant=tenant), code=303)


@ui.post("/tenants/<tenant>/faults/clear", endpoint="clear_faults")
@signed_in
def clear_faults(tenant: str) -> Any:
    page_tenant(tenant)
    count = faults.clear_rules(database(), tenant)
    flash(f"Removed {count} fault rule{'s' if count != 1 else ''}.")
    return redirect(url_for("ui.faults", tenant=tenant), code=303)
