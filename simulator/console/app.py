"""The console app: control API (``/api``) and the web UI over it (:mod:`simulator.console.ui`)."""

from __future__ import annotations

import simulator.jobs  # noqa: F401 - clock advances run every registered job kind
from simulator.config import SandboxConfig, load_config
from simulator.console.api import control, public
from simulator.console.conformance_api import conformance_api
from simulator.console.faults_api import faults_api
from simulator.console.journal_api import journal_api
from simulator.console.outbox_api import outbox_api
from simulator.console.processes_api import processes_api
from simulator.console.scenario_api import scenario_api
from simulator.console.sso_api import sso_api
from simulator.console.token_api import token_services_api
from simulator.console.ui import install as install_ui
from simulator.core.db import Database
from simulator.core.web import build_app

DESCRIPTION = (
    "Control plane of the AMS–LMS Integration Sandbox: tenants, settings, simulated clock, faults, the "
    "request journal, scenario runs and conformance runs. Send `Authorization: Bearer KEY` (the admin "
    "key, or a tenant's key for its own tenant)."
)


def create_app(config: SandboxConfig | None = None, db: Database | None = None):
    """Console app factory."""
    config = config or load_config()
    app = build_app("console", "Sandbox control API", DESCRIPTION, config, db)
    app.register_api(control)
    app.register_api(public)
    app.register_api(faults_api)
    app.register_api(journal_api)
    app.register_api(outbox_api)
    app.register_api(sso_api)
    app.register_api(token_services_api)
    app.register_api(scenario_api)
    app.register_api(conformance_api)
    app.register_api(processes_api)
    install_ui(app)
    app.config["SESSION_COOKIE_SECURE"] = config.tls  # over https:// only when served so (`--tls`)
    return app
