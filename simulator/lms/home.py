"""The LMS's front page, ``/t/{tenant}/``: who is signed in, and the ways in."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from simulator.core.tenancy import tenant_settings
from simulator.core.web import app_state, resolve_tenant
from simulator.lms.sso import session as sign_in

lms_home = Blueprint("lms_home", __name__, url_prefix="/t/<tenant>")


@lms_home.get("/")
def home(tenant: str) -> Response:
    """Sign-in state, links to sign in and to "My learning", and the SP's published documents."""
    settings = tenant_settings(resolve_tenant(tenant))
    html = render_template(
        "lms_home.html",
        tenant=tenant,
        learner=sign_in.signed_in(tenant),
        protocol=settings.sso.protocol,
        branding=settings.branding,
        lms_url=app_state().config.lms_url,
    )
    return Response(html, mimetype="text/html")
