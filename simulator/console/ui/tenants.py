"""Console pages: the tenant list (create, reset, reseed, delete) and a tenant's dashboard (connector
URLs with copy buttons, counts, the simulated clock). Each action calls the service the control API's
view calls, with the same validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from simulator.console import service
from simulator.console.api import SeedRequest, TenantCreate
from simulator.console.overview import tenant_overview
from simulator.console.ui.auth import admin_only, current_principal, page_tenant, signed_in
from simulator.console.ui.blueprint import ui
from simulator.console.ui.forms import sandbox_error_fields, validate_form
from simulator.core import clock, tenancy
from simulator.core.errors import SandboxError
from simulator.core.jobs import pending_jobs
from simulator.core.web import app_state, database

CLOCK_STEPS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "30days": dt.timedelta(days=30)}


def _tenant_rows() -> list[dict[str, Any]]:
    principal = current_principal()
    with database().read() as session:
        return [
            service.tenant_summary(tenant)
            for tenant in tenancy.list_tenants(session)
            if principal is not None and principal.may_access(tenant.id)
        ]


@ui.get("/tenants")
@signed_in
def tenants() -> Any:
    admin_only()
    return render_template("ui/tenants.html", title="Tenants", tenants=_tenant_rows(), errors={}, form={})


@ui.post("/tenants")
@signed_in
def create_tenant() -> Any:
    admin_only()
    form = request.form.to_dict()
    body, errors = validate_form(TenantCreate, {k: form.get(k) for k in ("id", "name", "seed", "members")})
    if body is not None:
        state = app_state()
        try:
            summary, api_key, seeded = service.create_seeded_tenant(
                state.db, state.config, body.id, body.name, body.settings, body.seed, body.members
            )
        except SandboxError as error:
            errors = sandbox_error_fields(error)
        else:
            return render_template(
                "ui/tenant_created.html",
                title="Tenant created",
                created=summary,
                api_key=api_key,
                seeded=seeded.counts(),
            ), 201
    return render_template(
        "ui/tenants.html", title="Tenants", tenants=_tenant_rows(), errors=errors, form=form
    ), 422


@ui.post("/tenants/<tenant>/reset")
@signed_in
def reset_tenant(tenant: str) -> Any:
    page_tenant(tenant)
    state = app_state()
    seeded = service.reset_tenant(state.db, state.config, tenant)
    flash(f"Tenant {tenant} was reset: {_counts_text(seeded.counts())}.")
    return redirect(url_for("ui.dashboard", tenant=tenant), code=303)


@ui.post("/tenants/<tenant>/seed")
@signed_in
def reseed_tenant(tenant: str) -> Any:
    page_tenant(tenant)
    body, errors = validate_form(SeedRequest, {k: request.form.get(k) for k in ("seed", "members")})
    if body is None:
        flash(
            "Not reseeded: " + "; ".join(f"{field}: {message}" for field, message in errors.items()), "error"
        )
        return redirect(url_for("ui.dashboard", tenant=tenant), code=303)
    state = app_state()
    seeded = service.reseed_tenant(state.db, state.config, tenant, body.seed, body.members)
    flash(f"Tenant {tenant} was reseeded with seed {body.seed}: {_counts_text(seeded.counts())}.")
    return redirect(url_for("ui.dashboard", tenant=tenant), code=303)


@ui.get("/tenants/<tenant>/delete")
@signed_in
def confirm_delete(tenant: str) -> Any:
    admin_only()
    return render_template("ui/confirm_delete.html", title=f"Delete {tenant}", tenant=page_tenant(tenant))


@ui.post("/tenants/<tenant>/delete")
@signed_in
def delete_tenant(tenant: str) -> Any:
    admin_only()
    page_tenant(tenant)
    if request.form.get("confirm") != tenant:
        flash(f"Not deleted: type the tenant id '{tenant}' to confirm.", "error")
        return redirect(url_for("ui.confirm_delete", tenant=tenant), code=303)
    with database().session() as session:
        tenancy.delete_tenant(session, tenant)
    flash(f"Tenant {tenant} and everything it owned were deleted.")
    return redirect(url_for("ui.tenants"), code=303)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())


@ui.get("/tenants/<tenant>")
@signed_in
def dashboard(tenant: str) -> Any:
    tenant_row = page_tenant(tenant)
    state = app_state()
    overview = tenant_overview(state.db, state.config, tenant)
    clock_state = clock.read_clock(state.db, tenant)
    jobs = pending_jobs(state.db, tenant, limit=10)
    return render_template(
        "ui/dashboard.html",
        title=f"Tenant {tenant}",
        tenant=tenant_row,
        overview=overview,
        clock=clock_state.to_json(),
        jobs=jobs,
    )


@ui.post("/tenants/<tenant>/clock")
@signed_in
def clock_action(tenant: str) -> Any:
    page_tenant(tenant)
    db, action = database(), request.form.get("action", "")
    if action == "freeze":
        clock.freeze_clock(db, tenant)
        flash("The clock is frozen.")
    elif action == "resume":
        clock.resume_clock(db, tenant)
        flash("The clock runs again.")
    elif action in CLOCK_STEPS:
        state = clock.advance_clock(db, tenant, CLOCK_STEPS[action])
        ran = state.to_json().get("jobs_run", [])
        flash(f"Business time advanced to {state.now.isoformat()}; {len(ran)} job(s) ran.")
    else:
        flash("Unknown clock action.", "error")
    return redirect(url_for("ui.dashboard", tenant=tenant), code=303)
