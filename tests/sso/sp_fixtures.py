"""Fixtures for the LMS service-provider tests: a test IdP and OP over HTTP and a tenant trusting them.

Test modules load them with ``pytest_plugins = ["tests.sso.sp_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulator.config import SandboxConfig
from simulator.lms.sso import remote
from tests.sso.peers import PeerServer
from tests.sso.saml_attacks import TestIdp
from tests.sso.sp_support import TENANT, SamlWorld, patch_settings


@pytest.fixture
def peers() -> Iterator[PeerServer]:
    remote.clear_cache()
    server = PeerServer().start()
    yield server
    server.stop()
    remote.clear_cache()


@pytest.fixture
def saml_world(
    lms: Any, console: Any, config: SandboxConfig, make_tenant: Any, peers: PeerServer
) -> SamlWorld:
    make_tenant(TENANT)
    idp = TestIdp("https://idp.test/entity", f"{peers.base_url}/sso")
    url = peers.put("idp-metadata.xml", idp.metadata())
    patch_settings(console, TENANT, {"sso": {"protocol": "saml", "idp_metadata_url": url}})
    return SamlWorld(lms=lms, console=console, config=config, idp=idp)
