"""The console's web UI: server-rendered pages over the control plane, at the console's root.

Pages live in one module per area (``tenants``, ``members``, ``orders``, ``writeback``, ``journal``,
``faults``, ``settings``, ``runs``), each adding routes to the one blueprint in :mod:`.blueprint`.
Every page reads what a control-API (or AMS/LMS API) call returns, through the same service functions;
the UI adds no capability of its own. Pages work without JavaScript; ``static/console.js`` only adds
copy buttons and the journal's live tail.
"""

from __future__ import annotations

from flask import Flask

from simulator.console.ui import (  # noqa: F401 - each module registers its pages on the blueprint
    auth,
    faults,
    journal,
    members,
    orders,
    runs,
    settings,
    tenants,
    writeback,
)
from simulator.console.ui.blueprint import ui


def install(app: Flask) -> None:
    """Register the UI on the console app, with a session cookie of its own."""
    app.config["SESSION_COOKIE_NAME"] = "sandbox_console_session"  # AMS and LMS share the host
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.register_blueprint(ui)
