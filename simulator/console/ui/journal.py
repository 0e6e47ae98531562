"""Console pages: a tenant's request journal (newest first, filtered, with a live tail) and one entry
with its SAML messages and JWTs decoded.

The list reads :func:`simulator.core.journal.list_entries` with the control API's own filter model
(:class:`simulator.console.journal_api.JournalQuery`); ``journal_rows`` answers the live tail of
``static/console.js`` with the ``<tr>`` rows of newer entries. The entry page shows what
``GET /api/tenants/{t}/journal/{id}`` returns (:func:`simulator.console.decoding.decoded_journal_entry`).
"""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request

from simulator.console.decoding import decoded_journal_entry
from simulator.console.journal_api import JournalQuery
from simulator.console.ui.auth import page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import validate_form
from simulator.core import faults, journal
from simulator.core.web import app_state, database

PAGE_SIZE = 100
FILTER_FIELDS = ("app", "method", "path", "status", "fault_fired")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _filters() -> tuple[dict[str, str], JournalQuery | None, dict[str, str]]:
    """The filter form as sent (blank fields left out), the validated query (or ``None``) and errors."""
    form = {name: request.args.get(name, "").strip() for name in FILTER_FIELDS}
    form = {name: value for name, value in form.items() if value}
    if form.get("fault_fired"):
        form["fault_fired"] = "true"  # a checked checkbox, whatever its value
    query, errors = validate_form(JournalQuery, {**form, "since": request.args.get("since")})
    return form, query, errors


def _newest(tenant_id: str, query: JournalQuery) -> list[dict[str, Any]]:
    """The newest matching entries after ``query.since``, newest first."""
    criteria = {**query.model_dump(), "limit": PAGE_SIZE, "newest": True}
    entries, _ = journal.list_entries(database(), tenant_id, journal.JournalFilter(**criteria))
    return entries[::-1]


@ui.get("/tenants/<tenant>/journal", endpoint="journal")
@signed_in
def journal_page(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    form, query, errors = _filters()
    entries = [] if query is None else _newest(tenant, query)
    page = render_template(
        "ui/journal.html",
        title=f"Journal of {tenant}",
        tenant=tenant_row,
        form=form,
        errors=errors,
        entries=entries,
        newest_id=entries[0]["id"] if entries else 0,
        methods=METHODS,
        page_size=PAGE_SIZE,
    )
    return (page, 422) if errors else page


@ui.get("/tenants/<tenant>/journal/rows", endpoint="journal_rows")
@signed_in
def journal_rows(tenant: str) -> Any:
    """The ``<tr>`` rows of matching entries newer than ``since``, newest first (the live tail)."""
    tenant_row = page_tenant(tenant)
    _, query, errors = _filters()
    if query is None:
        return "; ".join(f"{name}: {message}" for name, message in errors.items()), 422
    return render_template("ui/journal_rows.html", tenant=tenant_row, entries=_newest(tenant, query))


@ui.get("/tenants/<tenant>/journal/<int:entry_id>", endpoint="journal_entry")
@signed_in
def journal_entry(tenant: str, entry_id: int) -> Any:
    tenant_row = page_tenant(tenant)
    state = app_state()
    entry = decoded_journal_entry(state.db, tenant, entry_id, state.config.journal_body_limit)
    fired = entry["fault"]
    rule = None
    if fired and fired.get("rule_id") is not None:
        rule = next((r for r in faults.list_rules(state.db, tenant) if r["id"] == fired["rule_id"]), None)
    return render_template(
        "ui/journal_entry.html",
        title=f"Journal entry {entry_id}",
        tenant=tenant_row,
        entry=entry,
        rule_text=None if rule is None else _indented(rule["rule"]),
        jwts=[_readable_jwt(jwt) for jwt in entry["decoded"]["jwts"]],
        body_limit=state.config.journal_body_limit,
    )


def _readable_jwt(jwt: dict[str, Any]) -> dict[str, Any]:
    """A decoded JWT with its header and claims as indented JSON, in the order they were sent."""
    return {
        **jwt,
        "header_text": None if jwt["header"] is None else _indented(jwt["header"]),
        "claims_text": None if jwt["claims"] is None else _indented(jwt["claims"]),
    }


def _indented(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)
