"""The AMS app: the association's system of record (members, identity, commerce, writeback inbox)."""

from __future__ import annotations

from simulator.ams.commerce.entitlements_views import entitlements_api
from simulator.ams.commerce.store import store_pages
from simulator.ams.commerce.views import commerce_api
from simulator.ams.gateway.views import gateway_api
from simulator.ams.home import portal_home
from simulator.ams.idp.oidc.views import install_oidc_provider, oidc_pages
from simulator.ams.idp.saml.views import saml_pages
from simulator.ams.idp.token.views import token_api, token_pages
from simulator.ams.idp.views import login_pages
from simulator.ams.views import members_api
from simulator.ams.writeback.portal import portal_pages
from simulator.ams.writeback.views import inbox_api, writeback_api
from simulator.config import SandboxConfig, load_config
from simulator.core.db import Database
from simulator.core.middleware import install_request_middleware
from simulator.core.web import build_app, install_root_page

DESCRIPTION = (
    "The sandbox's association management system. Every URL is tenant-scoped: `/t/{tenant}/…`. "
    "API calls send `Authorization: Bearer KEY` (the tenant's key or the admin key)."
)


def create_app(config: SandboxConfig | None = None, db: Database | None = None):
    """AMS app factory."""
    config = config or load_config()
    app = build_app("ams", "Sandbox AMS", DESCRIPTION, config, db)
    app.config["SESSION_COOKIE_NAME"] = "sandbox_ams_session"  # the LMS shares the host (ports share cookies)
    app.config["SESSION_COOKIE_SECURE"] = config.tls  # over https:// only when served so (`--tls`)
    install_root_page(app)
    app.register_api(members_api)
    app.register_api(inbox_api)
    app.register_api(writeback_api)
    app.register_api(commerce_api)
    app.register_api(entitlements_api)
    app.register_api(gateway_api)
    app.register_blueprint(store_pages)
    app.register_blueprint(login_pages)
    app.register_blueprint(saml_pages)
    app.register_blueprint(oidc_pages)
    app.register_blueprint(portal_pages)
    app.register_blueprint(portal_home)
    app.register_blueprint(token_pages)
    app.register_api(token_api)
    install_oidc_provider(app)
    install_request_middleware(app, "ams")
    return app
