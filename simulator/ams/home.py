"""The AMS member portal's front page, ``/t/{tenant}/``: where a person (or a demo) starts."""

from __future__ import annotations

from flask import Response

from simulator.ams.idp import browser

portal_home = browser.idp_blueprint("ams_home", __name__)


@portal_home.get("/")
def home(tenant: str) -> Response:
    """Sign-in state and the ways in: store, transcript, and the identity provider's published documents."""
    return browser.page(
        "ams_home.html", login=browser.current_login(), tenant=browser.tenant_id(), ams_url=browser.ams_url()
    )
