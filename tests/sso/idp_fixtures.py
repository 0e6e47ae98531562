"""Fixtures for the tests of the AMS identity provider: the ``acme`` tenant and a member signed in to it.

Test modules load them with ``pytest_plugins = ["tests.sso.idp_fixtures"]``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

AMS_URL = "http://127.0.0.1:8001"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


@pytest.fixture
def browser(ams: Any, tenant: Any) -> httpx.Client:
    """An httpx client on the AMS app, signed in as the active member persona."""
    client = httpx.Client(transport=httpx.WSGITransport(app=ams.application), base_url=AMS_URL)
    signed_in = client.post("/t/acme/login", data={"email": "active.member@demo.test", "password": "demo"})
    assert signed_in.status_code == 303
    return client
