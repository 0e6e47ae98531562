"""The LMS app: courses, webinars, enrollments and learning activity; trusts the AMS for identity."""

from __future__ import annotations

from simulator.config import SandboxConfig, load_config
from simulator.core.db import Database
from simulator.core.middleware import install_request_middleware
from simulator.core.web import build_app, install_root_page, register_blueprints
from simulator.lms.catalog_api import catalog_api, catalog_link
from simulator.lms.commerce.views import purchases_api
from simulator.lms.home import lms_home
from simulator.lms.learning.pages import learning_pages
from simulator.lms.learning.views import learning_api
from simulator.lms.sso.views import sso_pages

DESCRIPTION = "The sandbox's learning management system. Every URL is tenant-scoped: `/t/{tenant}/…`."


def create_app(config: SandboxConfig | None = None, db: Database | None = None):
    """LMS app factory."""
    config = config or load_config()
    app = build_app("lms", "Sandbox LMS", DESCRIPTION, config, db)
    app.config["SESSION_COOKIE_NAME"] = "sandbox_lms_session"  # the AMS shares the host (ports share cookies)
    app.config["SESSION_COOKIE_SECURE"] = config.tls  # over https:// only when served so (`--tls`)
    install_root_page(app)
    register_blueprints(app, sso_pages)
    register_blueprints(app, learning_api)
    app.register_blueprint(learning_pages)
    app.register_blueprint(lms_home)
    register_blueprints(app, purchases_api)
    register_blueprints(app, catalog_api, catalog_link)
    install_request_middleware(app, "lms")
    return app
