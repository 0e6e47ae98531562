"""The LMS's front page, ``/t/{tenant}/``: who is signed in, and the ways in."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from simulator.core.tenancy import get_tenant, tenant_settings
from simulator.core.web import app_state, database
from simulator.lms.sso import session as sign_in

lms_home = Blueprint("lms_home", __name__, url_prefix="/t/<tenant>")


@lms_home.get("/")
def home(tenant: str) -> Response:
    """Sign-in state, links to sign in and to "My learning", and the SP's published documents."""
    with database().read() as session:
        settings = tenant_settings(get_tenant(session, (request.view_args or {}).get("tenant", tenant)))
    html = render_template(
        "lms_home.html",
        tenant=tenant,
        learner=sign_in.signed_in(tenant),
        protocol=settings.sso.protocol,
        branding=settings.branding,
        lms_url=app_state().config.lms_url,
    )
    return Response(html, mimetype="text/html")
