"""Console pages: scenario runs (list, timeline, run one from the library) and conformance runs (list,
and each run's report: the very HTML ``sandbox certify --html`` writes). A tenant key sees only the
runs of its own tenant, as with ``GET /api/scenario-runs`` and ``GET /api/conformance-runs``."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for

from simulator.console import conformance_runs, library_runs, scenario_runs
from simulator.console.ui.auth import admin_only, current_principal, signed_in
from simulator.console.ui.blueprint import ui
from simulator.core.errors import SandboxError
from simulator.core.web import app_state, database

REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def _tenant_scope() -> str | None:
    principal = current_principal()
    if principal is None:
        abort(404)
    return None if principal.is_admin else principal.tenant_id


@ui.get("/scenario-runs", endpoint="scenario_runs")
@signed_in
def scenario_runs_page() -> Any:
    with database().read() as session:
        runs = scenario_runs.list_runs(session, tenant_id=_tenant_scope(), limit=100)
    principal = current_principal()
    library = library_runs.library_scenarios() if principal is not None and principal.is_admin else []
    return render_template("ui/scenario_runs.html", title="Scenario runs", runs=runs, library=library)


@ui.post("/scenario-runs")
@signed_in
def start_scenario_run() -> Any:
    admin_only()
    try:
        started = library_runs.start_library_run(app_state().config, request.form.get("scenario", ""))
    except SandboxError as error:
        flash(error.message, "error")
    else:
        flash(f"Started “{started['scenario']}” ({started['file']}); it appears below when it finishes.")
    return redirect(url_for("ui.scenario_runs"), code=303)


@ui.get("/scenario-runs/<int:run_id>")
@signed_in
def scenario_run(run_id: int) -> Any:
    with database().read() as session:
        run = scenario_runs.get_run(session, run_id, tenant_id=_tenant_scope())
    result = run.get("result") or {}
    steps = ([result["setup"]] if result.get("setup") else []) + list(result.get("steps") or [])
    return render_template("ui/scenario_run.html", title=f"Scenario run {run_id}", run=run, steps=steps)


@ui.get("/conformance-runs", endpoint="conformance_runs")
@signed_in
def conformance_runs_page() -> Any:
    with database().read() as session:
        runs = conformance_runs.list_runs(session, tenant_id=_tenant_scope(), limit=100)
    return render_template("ui/conformance_runs.html", title="Conformance runs", runs=runs)


@ui.get("/conformance-runs/<int:run_id>")
@signed_in
def conformance_run(run_id: int) -> Any:
    """The run's report as ``sandbox certify --html`` writes it (a whole page, with its own styles)."""
    from conformance.harness.reports import html_report

    with database().read() as session:
        run = conformance_runs.get_run(session, run_id, tenant_id=_tenant_scope())
    response = Response(html_report(run["report"]), mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response
