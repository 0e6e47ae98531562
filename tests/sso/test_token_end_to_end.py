"""Token hand-off sign-in through both apps over real HTTP: the LMS redeems AMS tokens on the back channel.

AMS and LMS run on free 127.0.0.1 ports (werkzeug servers in threads) with ``ams_url``/``lms_url`` pointing
at each other; the tenant is created through the control API, whose seeding registers the LMS as a token
service at the AMS and hands the LMS its credential in the settings. A browser is played by httpx. The LMS
never imports the AMS: its back-channel call is a real HTTP request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.helpers.servers import serving
from tests.sso.sp_support import form_action_and_fields

TENANT = "tok"


@dataclass
class Sandbox:
    config: SandboxConfig
    console: Any

    @property
    def lms(self) -> str:
        return f"{self.config.lms_url}/t/{TENANT}"

    @property
    def ams(self) -> str:
        return f"{self.config.ams_url}/t/{TENANT}"

    def settings(self, sso: dict[str, Any]) -> None:
        patched = self.console.patch(f"/api/tenants/{TENANT}/settings", json={"sso": sso}, headers=ADMIN)
        assert patched.status_code == 200, patched.get_json()

    def journal(self) -> list[dict[str, Any]]:
        response = self.console.get(f"/api/tenants/{TENANT}/journal?limit=1000", headers=ADMIN)
        return response.get_json()["entries"]


@pytest.fixture
def sandbox(tmp_path: Path, db_url: str) -> Iterator[Sandbox]:
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console
    from simulator.lms.app import create_app as create_lms

    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    with serving((ams_port, create_ams(config, db)), (lms_port, create_lms(config, db))):
        console = create_console(config, db).test_client()
        try:
            created = console.post(
                "/api/tenants",
                json={"id": TENANT, "seed": 3, "members": 5, "settings": {"sso": {"protocol": "token"}}},
                headers=ADMIN,
            )
            assert created.status_code == 201, created.get_json()
            yield Sandbox(config, console)
        finally:
            db.dispose()


def sign_in_at_the_ams(browser: httpx.Client, page: httpx.Response, email: str) -> httpx.Response:
    """Fill the AMS login form on ``page`` and submit it."""
    assert page.status_code == 200, page.text
    action, fields = form_action_and_fields(page.text)
    fields.update({"email": email, "password": "demo"})
    return browser.post(httpx.URL(str(page.url)).join(action), data=fields)


def landing_link(sandbox: Sandbox, email: str = "active.member@demo.test") -> str:
    """Sign in at the AMS and launch to the LMS, stopping at the landing URL (the token unspent)."""
    with httpx.Client(follow_redirects=False, timeout=20) as browser:
        signed_in = browser.post(f"{sandbox.ams}/login", data={"email": email, "password": "demo"})
        assert signed_in.status_code == 303
        query = urlencode({"service": "Sandbox LMS", "target": f"/t/{TENANT}/me"})
        launched = browser.get(f"{sandbox.ams}/sso/token/launch?{query}")
    assert launched.status_code == 302, launched.text
    return launched.headers["location"]


def page_code(response: httpx.Response) -> str | None:
    marker = '<code id="code">'
    text = response.text
    return text.split(marker, 1)[1].split("<", 1)[0] if marker in text else None


def test_lms_initiated_sign_in_lands_on_me(sandbox: Sandbox) -> None:
    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        login_page = browser.get(f"{sandbox.lms}/login?return_to=/t/{TENANT}/me")
        assert str(login_page.url).startswith(f"{sandbox.ams}/sso/token/authorize?")  # the form, in place
        landed = sign_in_at_the_ams(browser, login_page, "active.member@demo.test")

        assert landed.status_code == 200, landed.text
        assert str(landed.url) == f"{sandbox.lms}/me"
        # the login POST answers with the hand-off redirect itself (to the LMS, with the token)
        assert landed.history[0].url.path == f"/t/{TENANT}/login"
        assert landed.history[0].headers["location"].startswith(f"{sandbox.lms}/sso/token/")
        me = landed.json()
        assert me["email"] == "active.member@demo.test"
        assert (me["given_name"], me["member_status"], me["access"]) == ("Alex", "active", "full")
        assert me["protocol"] == "token"


def test_ams_launch_lands_on_me_and_the_token_cannot_be_replayed(sandbox: Sandbox) -> None:
    link = landing_link(sandbox)
    assert link.startswith(f"{sandbox.lms}/sso/token/landing?token=")

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(link)
        assert landed.status_code == 200, landed.text
        assert str(landed.url) == f"{sandbox.lms}/me"
        assert landed.json()["protocol"] == "token"

    with httpx.Client(follow_redirects=True, timeout=20) as replaying:
        replayed = replaying.get(link)
        assert replayed.status_code == 403
        assert page_code(replayed) == "used_token"
        assert replaying.get(f"{sandbox.lms}/me").status_code == 401


def test_an_expired_token_gets_a_clear_page(sandbox: Sandbox) -> None:
    sandbox.settings({"token_ttl_seconds": 1})
    link = landing_link(sandbox)

    time.sleep(1.2)

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(link)
        assert landed.status_code == 400
        assert page_code(landed) == "expired_token"
        assert "expired" in landed.text
        assert browser.get(f"{sandbox.lms}/me").status_code == 401


def test_a_tampered_token_gets_a_clear_page(sandbox: Sandbox) -> None:
    link = landing_link(sandbox)
    token = parse_qs(urlsplit(link).query)["token"][0]
    tampered = link.replace(token, token[::-1])

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(tampered)
        assert landed.status_code == 400 and page_code(landed) == "invalid_token"


def test_a_member_lapsed_since_the_launch_is_refused_by_the_lms(sandbox: Sandbox) -> None:
    link = landing_link(sandbox)
    with httpx.Client(timeout=20) as api:
        found = api.get(
            f"{sandbox.ams}/api/members", params={"email": "active.member@demo.test"}, headers=ADMIN
        )
        member_id = found.json()["members"][0]["member_id"]
        lapsed = api.patch(f"{sandbox.ams}/api/members/{member_id}", json={"status": "lapsed"}, headers=ADMIN)
        assert lapsed.status_code == 200, lapsed.text

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(link)
        assert landed.status_code == 403
        assert page_code(landed) == "access_denied"
        assert browser.get(f"{sandbox.lms}/me").status_code == 401


def test_a_wrong_service_credential_at_the_lms_gets_a_clear_page(sandbox: Sandbox) -> None:
    sandbox.settings({"token_service_secret": "not-the-secret-the-ams-issued"})
    link = landing_link(sandbox)

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(link)
        assert landed.status_code == 502 and page_code(landed) == "token_service_rejected"


def test_the_lms_refuses_tokens_when_its_protocol_is_not_token(sandbox: Sandbox) -> None:
    link = landing_link(sandbox)
    sandbox.settings({"protocol": "saml"})

    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        landed = browser.get(link)
        assert landed.status_code == 403 and page_code(landed) == "token_handoff_disabled"


def test_each_leg_is_journaled_without_the_token(sandbox: Sandbox) -> None:
    link = landing_link(sandbox)
    token = parse_qs(urlsplit(link).query)["token"][0]
    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        assert browser.get(link).status_code == 200

    entries = sandbox.journal()
    legs = {(entry["app"], entry["path"], entry["status"]) for entry in entries}
    assert ("ams", f"/t/{TENANT}/sso/token/launch", 302) in legs
    assert ("lms", f"/t/{TENANT}/sso/token/landing", 302) in legs
    assert ("ams", f"/t/{TENANT}/sso/token/validate", 200) in legs
    assert token not in json.dumps(entries)
