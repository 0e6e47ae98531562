"""The LMS app: courses, webinars, enrollments and learning activity; trusts the AMS for identity."""

from __future__ import annotations

from simulator.config import SandboxConfig, load_config
from simulator.core.db import Database
from simulator.core.middleware import install_request_middleware
from simulator.core.web import build_app

DESCRIPTION = "The sandbox's learning management system. Every URL is tenant-scoped: `/t/{tenant}/…`."


def create_app(config: SandboxConfig | None = None, db: Database | None = None):
    """LMS app factory."""
    config = config or load_config()
    app = build_app("lms", "Sandbox LMS", DESCRIPTION, config, db)
    install_request_middleware(app, "lms")
    return app
