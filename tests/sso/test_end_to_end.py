"""A real sign-in through both apps over HTTP: the LMS (SP/RP) trusts the sandbox's own AMS (IdP/OP).

AMS and LMS run on free 127.0.0.1 ports (werkzeug servers in threads) with ``ams_url``/``lms_url``
pointing at each other; a browser is played by httpx (following redirects, filling the AMS login form,
submitting the auto-posting SAML form). The LMS never imports the AMS: they meet only over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.lms.sso import remote
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.helpers.servers import serving
from tests.sso.sp_support import form_action_and_fields

TENANT = "e2e"


@dataclass
class Sandbox:
    config: SandboxConfig
    console: Any


@pytest.fixture
def sandbox(tmp_path: Path, db_url: str) -> Iterator[Sandbox]:
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console
    from simulator.lms.app import create_app as create_lms

    remote.clear_cache()
    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    with serving((ams_port, create_ams(config, db)), (lms_port, create_lms(config, db))):
        console = create_console(config, db).test_client()
        created = console.post("/api/tenants", json={"id": TENANT, "seed": 3, "members": 5}, headers=ADMIN)
        assert created.status_code == 201, created.get_json()
        try:
            yield Sandbox(config, console)
        finally:
            db.dispose()
            remote.clear_cache()


def sign_in_at_the_ams(browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Fill the AMS login form on ``page`` with the demo member and submit it."""
    assert page.status_code == 200, page.text
    action, fields = form_action_and_fields(page.text)
    fields.update({"email": "active.member@demo.test", "password": "demo"})
    return browser.post(httpx.URL(str(page.url)).join(action), data=fields)


def follow_auto_post(browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Submit the auto-posting SAML form the IdP answers with (what the page's script would do)."""
    action, fields = form_action_and_fields(page.text)
    assert "SAMLResponse" in fields
    return browser.post(action, data=fields)


def test_saml_sign_in_through_the_ams_lands_on_me(sandbox: Sandbox) -> None:
    lms_url = sandbox.config.lms_url
    registered = sandbox.console.post(
        f"/api/tenants/{TENANT}/saml/service-providers",
        json={"metadata_url": f"{lms_url}/t/{TENANT}/saml/metadata"},
        headers=ADMIN,
    )
    assert registered.status_code == 201, registered.get_json()

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        login_page = browser.get(f"{lms_url}/t/{TENANT}/login")
        assert str(login_page.url).startswith(f"{sandbox.config.ams_url}/t/{TENANT}/saml/sso?")
        posting_page = sign_in_at_the_ams(browser, login_page)
        assert posting_page.history == []  # the login POST answers with the SAML response itself
        landed = follow_auto_post(browser, posting_page)

        assert landed.status_code == 200, landed.text
        assert str(landed.url) == f"{lms_url}/t/{TENANT}/me"
        me = landed.json()
        assert me["email"] == "active.member@demo.test"
        assert (me["given_name"], me["member_status"], me["access"]) == ("Alex", "active", "full")
        assert me["protocol"] == "saml"


def test_oidc_sign_in_through_the_ams_lands_on_me(sandbox: Sandbox) -> None:
    lms_url = sandbox.config.lms_url
    patched = sandbox.console.patch(
        f"/api/tenants/{TENANT}/settings", json={"sso": {"protocol": "oidc"}}, headers=ADMIN
    )
    assert patched.status_code == 200

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        login_page = browser.get(f"{lms_url}/t/{TENANT}/login")
        assert str(login_page.url).startswith(f"{sandbox.config.ams_url}/t/{TENANT}/oidc/authorize?")
        landed = sign_in_at_the_ams(browser, login_page)

        assert landed.status_code == 200, landed.text
        assert str(landed.url) == f"{lms_url}/t/{TENANT}/me"
        # the login POST answers with the redirect to the LMS callback itself, not back to authorize
        assert landed.history[0].url.path == f"/t/{TENANT}/login"
        assert landed.history[0].headers["location"].startswith(f"{lms_url}/t/{TENANT}/oidc/callback?")
        me = landed.json()
        assert me["email"] == "active.member@demo.test"
        assert me["member_status"] == "active"
        assert me["protocol"] == "oidc"
