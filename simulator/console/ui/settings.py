"""Console page: a tenant's settings document — a small form for the most used fields and a JSON editor
for the whole document (secrets masked, as ``GET /api/tenants/{t}/settings`` shows them). Both apply a
JSON merge patch (RFC 7396) through :func:`simulator.core.tenancy.update_settings`, as ``PATCH
/api/tenants/{t}/settings`` does: the merged document is validated whole and nothing changes when it is
invalid.

The editor's document replaces the settings: the patch sent is the difference between the stored
document and the edited one (a key taken out becomes ``null``, back to its default). A secret left as
the mask (``[redacted]``) keeps its stored value; typing a new value sets it.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from werkzeug.datastructures import MultiDict

from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.core import tenancy
from simulator.core.errors import ValidationFailed
from simulator.core.settings import SECRET_MASK, TenantSettings, masked_settings
from simulator.core.web import database

DOCUMENT_FIELD = "document"


def _field_info(path: str) -> FieldInfo:
    """The model field a dotted settings path names (``sso.protocol`` → ``SsoSettings.protocol``)."""
    model: type[BaseModel] = TenantSettings
    *sections, name = path.split(".")
    for section in sections:
        model = model.model_fields[section].annotation  # type: ignore[assignment]
    return model.model_fields[name]


@dataclass(frozen=True)
class SettingInput:
    """One input of the small form: a scalar settings field by its dotted path."""

    path: str
    label: str
    widget: str = "text"  # text, number, select or checkbox

    @property
    def help(self) -> str:
        return _field_info(self.path).description or ""

    @property
    def options(self) -> tuple[str, ...]:
        return typing.get_args(_field_info(self.path).annotation)


COMMON_FIELDS = (
    SettingInput("sso.protocol", "SSO protocol", "select"),
    SettingInput("sso.allow_idp_initiated", "Allow IdP-initiated SAML", "checkbox"),
    SettingInput("purchase_sync", "eCommerce purchase sync", "select"),
    SettingInput("catalog_owner", "Catalog owner", "select"),
    SettingInput("commerce.access_before_payment", "Access before payment", "checkbox"),
    SettingInput("membership.grace_days", "Grace days", "number"),
    SettingInput("timezone", "Time zone"),
    SettingInput("currency", "Currency"),
)


def value_at(document: Any, path: str) -> Any:
    """The value at a dotted path of a settings document (``None`` when it is not there)."""
    for part in path.split("."):
        document = document.get(part) if isinstance(document, dict) else None
    return document


def common_fields_patch(form: MultiDict[str, str]) -> dict[str, Any]:
    """The merge patch the small form describes: an empty input goes back to its default (``null``),
    an unticked box is ``false``."""
    patch: dict[str, Any] = {}
    for item in COMMON_FIELDS:
        *sections, name = item.path.split(".")
        target = patch
        for section in sections:
            target = target.setdefault(section, {})
        if item.widget == "checkbox":
            target[name] = item.path in form
        else:
            target[name] = form.get(item.path, "").strip() or None
    return patch


def restore_secrets(edited: Any, stored: Any, path: str = "") -> tuple[Any, list[dict[str, str]]]:
    """``edited`` with every secret still showing the mask put back to its stored value; a mask where
    nothing is stored is reported (it stands for no secret)."""
    problems: list[dict[str, str]] = []
    if isinstance(edited, dict):
        stored_items = stored if isinstance(stored, dict) else {}
        restored = {}
        for key, value in edited.items():
            where = f"{path}.{key}" if path else key
            if key.endswith("secret") and value == SECRET_MASK:
                if stored_items.get(key) is None:
                    problems.append(
                        {
                            "field": where,
                            "message": f"'{SECRET_MASK}' stands for a stored secret, and none "
                            "is stored here: type the secret itself",
                        }
                    )
                restored[key] = stored_items.get(key)
            else:
                restored[key], more = restore_secrets(value, stored_items.get(key), where)
                problems += more
        return restored, problems
    if isinstance(edited, list):
        stored_list = stored if isinstance(stored, list) else []
        restored_list = []
        for index, item in enumerate(edited):
            before = stored_list[index] if index < len(stored_list) else None
            restored_item, more = restore_secrets(item, before, f"{path}.{index}")
            restored_list.append(restored_item)
            problems += more
        return restored_list, problems
    return edited, problems


def merge_patch_between(before: Any, after: Any) -> Any:
    """The RFC 7396 merge patch that turns ``before`` into ``after`` (a key ``after`` lacks is ``null``)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        if key not in before or before[key] != value:
            patch[key] = merge_patch_between(before.get(key), value)
    return patch


class DocumentError(Exception):
    """The editor's text is not JSON, or not a JSON object (the message says where)."""


def parse_document(text: str) -> Any:
    """The JSON in the editor; a syntax error names its line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def document_patch(session: Any, tenant_id: str, text: str) -> dict[str, Any]:
    """The merge patch that makes the tenant's settings the edited document (masked secrets kept)."""
    edited = parse_document(text)
    if not isinstance(edited, dict):
        raise DocumentError("The settings document must be a JSON object.")
    stored = tenancy.tenant_settings(tenancy.get_tenant(session, tenant_id)).model_dump(mode="json")
    restored, problems = restore_secrets(edited, stored)
    if problems:
        raise ValidationFailed("A secret is masked where none is stored.", errors=problems)
    return merge_patch_between(stored, restored)


def shown_again(text: str) -> tuple[str, list[dict[str, str]]]:
    """The refused document as the editor shows it again: as typed, unless it holds a new secret; then
    masked (a page never shows a secret), with a note asking for the secrets again."""
    edited = json.loads(text)
    masked = masked_settings(edited)
    if masked == edited:
        return text, []
    note = "Secrets you typed are shown masked again (a page never shows a secret): type them once more."
    return json.dumps(masked, indent=2, ensure_ascii=False), [{"field": DOCUMENT_FIELD, "message": note}]


def _render(
    tenant: Any, errors: list[dict[str, str]], form: dict[str, Any] | None = None, text: str | None = None
) -> str:
    with database().read() as session:
        shown = masked_settings(tenancy.get_tenant(session, tenant.id).settings)
    common = form if form is not None else {item.path: value_at(shown, item.path) for item in COMMON_FIELDS}
    return render_template(
        "ui/settings.html",
        title=f"Settings · {tenant.id}",
        tenant=tenant,
        common_fields=COMMON_FIELDS,
        common=common,
        document=json.dumps(shown, indent=2, ensure_ascii=False) if text is None else text,
        errors=errors,
        editor_invalid=bool(errors) and text is not None,
        field_errors={item["field"]: item["message"] for item in reversed(errors)},
        document_field=DOCUMENT_FIELD,
    )


@ui.get("/tenants/<tenant>/settings", endpoint="settings")
@signed_in
def settings_page(tenant: str) -> Any:
    return _render(page_tenant(tenant), [])


@ui.post("/tenants/<tenant>/settings", endpoint="save_settings")
@signed_in
def save_settings(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    from_editor = DOCUMENT_FIELD in request.form
    text = request.form.get(DOCUMENT_FIELD, "")
    try:
        with database().session() as session:
            patch = (
                document_patch(session, tenant, text) if from_editor else common_fields_patch(request.form)
            )
            if patch:
                tenancy.update_settings(session, tenant, patch)
    except DocumentError as error:
        return _render(tenant_row, [{"field": DOCUMENT_FIELD, "message": str(error)}], text=text), 422
    except ValidationFailed as error:
        if from_editor:
            shown, retype = shown_again(text)
            return _render(tenant_row, error.errors + retype, text=shown), 422
        submitted = {item.path: request.form.get(item.path, "") for item in COMMON_FIELDS}
        submitted |= {
            item.path: item.path in request.form for item in COMMON_FIELDS if item.widget == "checkbox"
        }
        return _render(tenant_row, error.errors, form=submitted), 422
    flash("Settings saved." if patch else "Nothing changed: the document is the one stored.")
    return redirect(url_for("ui.settings", tenant=tenant), code=303)
