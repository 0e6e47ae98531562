"""AMS HTTP views: the member directory API."""

from __future__ import annotations

from flask_openapi3 import Tag

from simulator.core.web import tenant_blueprint

members_tag = Tag(name="members", description="Member directory")
members_api = tenant_blueprint("members", __name__, [members_tag], prefix="/api", secured=True)
