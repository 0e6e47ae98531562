"""One-time values are used once across processes: the AMS and the LMS each served by two gunicorn workers.

`sandbox serve ams --workers 2` and `sandbox serve lms --workers 2` share one database (SQLite, then
PostgreSQL). Each one-time value — a ``private_key_jwt`` client assertion (its ``jti``), an authorization
code, a refresh token, a token hand-off token, a gateway ``Idempotency-Key`` and a SAML assertion ID — is
sent again and again on fresh connections, five at a time, until both workers have answered. Exactly one
use is accepted; every other is refused (an idempotent call gets the first answer replayed instead; its
first use is sent alone, see :func:`idempotency_key`). The worker that answered is found from the server
side of each connection (which worker process holds it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import pytest

from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, ADMIN_KEY, make_config
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until
from tests.sso.client_assertions import AssertingClient, assertion_fields
from tests.sso.test_idp_oidc import SCOPE, pkce

pytestmark = pytest.mark.e2e

TENANT = "acme"
REDIRECT = "https://rp.example.org/callback"
LANDING = "https://lms.example.org/sso/landing"
WORKERS = 2
AT_ONCE = 5
MIN_ATTEMPTS = 20
MAX_ATTEMPTS = 200
CARD = {"card": {"number": "4242424242424242", "exp_month": 4, "exp_year": 2035, "cvc": "123"}}

Send = Callable[[httpx.Client], httpx.Response]


class ServedApp:
    """``sandbox serve APP --workers 2`` on its configured port, and which worker holds a connection."""

    def __init__(self, app: str, url: str, env: dict[str, str], log_dir: Path) -> None:
        self.url = url
        self.port = urlsplit(url).port
        command = [*SANDBOX_COMMAND, "serve", app, "--workers", str(WORKERS)]
        self.group = ProcessGroup.start(command, env, log_dir)

    def healthy(self) -> bool:
        assert self.group.process.poll() is None, f"it exited at start-up:\n{self.group.describe()}"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def workers(self) -> dict[int, psutil.Process]:
        """The gunicorn worker processes (the group's members but its leader, the arbiter)."""
        return {member.pid: member for member in self.group.members() if member.pid != self.group.pgid}

    def worker_holding(self, response: httpx.Response, workers: dict[int, psutil.Process]) -> int:
        """The pid of the worker holding the (kept-alive) server side of ``response``'s connection."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        for pid, worker in workers.items():
            for connection in worker.net_connections("tcp"):
                if (
                    connection.laddr.port == self.port
                    and connection.raddr
                    and connection.raddr.port == client_port
                ):
                    return pid
        raise AssertionError(f"no worker of {self.url} holds the connection from port {client_port}")


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: Any
    worker: int


def replay(app: ServedApp, send: Send, first_alone: bool = False) -> list[Answer]:
    """``send`` on fresh connections, five at a time, until both workers answered (at least 20 times).

    With ``first_alone`` the first use is sent (and answered) before the others.
    """
    workers = app.workers()
    assert len(workers) == WORKERS, f"{len(workers)} workers:\n{app.group.describe()}"

    def once(_: int) -> Answer:
        with httpx.Client(timeout=20) as client:
            response = send(client)
            body = response.json() if "json" in response.headers.get("content-type", "") else response.text
            return Answer(response.status_code, response.headers, body, app.worker_holding(response, workers))

    answers: list[Answer] = [once(0)] if first_alone else []
    with ThreadPoolExecutor(AT_ONCE) as pool:
        while len(answers) < MIN_ATTEMPTS or {answer.worker for answer in answers} != set(workers):
            answered = {answer.worker for answer in answers}
            assert len(answers) < MAX_ATTEMPTS, f"only worker(s) {answered} of {set(workers)} answered"
            answers += pool.map(once, range(AT_ONCE))
    return answers


@dataclass
class Sandbox:
    config: SandboxConfig
    console: Any
    tenant_key: str
    ams: ServedApp
    lms: ServedApp
    browser: httpx.Client  # signed in at the served AMS as the active member
    browser_lock: threading.Lock

    def post_api(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.console.post(f"/api/tenants/{TENANT}{path}", json=body, headers=ADMIN)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def code_grant(self, client_id: str) -> dict[str, str]:
        """Token request fields redeeming a fresh authorization code for ``client_id``."""
        verifier, challenge = pkce()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        with self.browser_lock:
            response = self.browser.get(f"/t/{TENANT}/oidc/authorize", params=params)
        assert response.status_code == 302, response.text
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }

    @property
    def token_endpoint(self) -> str:
        return f"{self.ams.url}/t/{TENANT}/oidc/token"


@pytest.fixture
def sandbox(any_db_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    from simulator.console.app import create_app as create_console

    ams_port, lms_port = free_ports(2)
    config = make_config(tmp_path, any_db_url, ams_port=ams_port, lms_port=lms_port)
    db = Database(config.resolved_database_url)
    db.upgrade()  # before the servers start: they serve from this schema
    env = clean_env(
        database_url=any_db_url,
        data_dir=str(config.data_dir),
        admin_key=ADMIN_KEY,
        ams_port=str(ams_port),
        lms_port=str(lms_port),
        log_level="WARNING",
    )
    apps: list[ServedApp] = []
    browser = httpx.Client(base_url=config.ams_url, timeout=20)
    try:
        apps += [
            ServedApp(name, getattr(config, f"{name}_url"), env, tmp_path / name) for name in ("ams", "lms")
        ]
        console = create_console(config, db).test_client()  # the tenant is made while the servers start
        created = console.post("/api/tenants", json={"id": TENANT}, headers=ADMIN)
        assert created.status_code == 201, created.get_json()
        for app in apps:
            wait_until(app.healthy, 60, lambda app=app: f"{app.url} to answer:\n{app.group.describe()}")
        signed_in = browser.post(
            f"/t/{TENANT}/login", data={"email": "active.member@demo.test", "password": "demo"}
        )
        assert signed_in.status_code == 303, signed_in.text
        yield Sandbox(config, console, created.get_json()["api_key"], *apps, browser, threading.Lock())
        browser.close()  # a kept-alive connection would hold up the graceful stop
        with ThreadPoolExecutor(len(apps)) as pool:  # both stop at once (each takes a few seconds)
            codes = list(pool.map(lambda app: app.group.interrupt(signal.SIGTERM, timeout=15), apps))
        for app, code in zip(apps, codes, strict=True):
            assert code == 0 and "Traceback" not in app.group.stderr, app.group.describe()
    finally:
        browser.close()
        for app in apps:
            app.group.kill()
        db.dispose()


@dataclass
class OneTimeValue:
    """A value that works once: how to use it again, and what acceptance and refusal look like."""

    name: str
    app: ServedApp
    send: Send
    accepted: Callable[[Answer], bool]
    refused: Callable[[Answer], bool]
    first_alone: bool = False

    def judged(self, answers: list[Answer]) -> dict[str, Any]:
        unexpected = [(a.status, a.body) for a in answers if not self.accepted(a) and not self.refused(a)]
        return {"accepted": sum(map(self.accepted, answers)), "unexpected": unexpected[:3]}


def _status(status: int) -> Callable[[Answer], bool]:
    return lambda answer: answer.status == status


def _error_is(status: int, error: str) -> Callable[[Answer], bool]:
    return lambda answer: answer.status == status and answer.body["error"] == error


def client_assertion(sandbox: Sandbox) -> OneTimeValue:
    """One ``private_key_jwt`` assertion authenticating token requests that each redeem a fresh code."""
    rp = AssertingClient()
    registration = {
        "redirect_uris": [REDIRECT],
        "jwks": rp.jwks,
        "token_endpoint_auth_method": "private_key_jwt",
    }
    client_id = sandbox.post_api("/oidc/clients", registration)["client_id"]
    assertion = rp.assertion(client_id, sandbox.token_endpoint, lifetime=120)

    def send(http: httpx.Client) -> httpx.Response:
        fields = {**sandbox.code_grant(client_id), **assertion_fields(client_id, assertion)}
        return http.post(sandbox.token_endpoint, data=fields)

    return OneTimeValue(
        "client assertion jti", sandbox.ams, send, _status(200), _error_is(400, "invalid_client")
    )


def _secret_client(sandbox: Sandbox) -> tuple[str, str]:
    client = sandbox.post_api("/oidc/clients", {"redirect_uris": [REDIRECT]})
    return client["client_id"], client["client_secret"]


def authorization_code(sandbox: Sandbox) -> OneTimeValue:
    client = _secret_client(sandbox)
    fields = sandbox.code_grant(client[0])

    def send(http: httpx.Client) -> httpx.Response:
        return http.post(sandbox.token_endpoint, data=fields, auth=client)

    return OneTimeValue(
        "authorization code", sandbox.ams, send, _status(200), _error_is(400, "invalid_grant")
    )


def refresh_token(sandbox: Sandbox) -> OneTimeValue:
    client = _secret_client(sandbox)
    tokens = httpx.post(sandbox.token_endpoint, data=sandbox.code_grant(client[0]), auth=client, timeout=20)
    assert tokens.status_code == 200, tokens.text
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}

    def send(http: httpx.Client) -> httpx.Response:
        return http.post(sandbox.token_endpoint, data=refresh, auth=client)

    return OneTimeValue("refresh token", sandbox.ams, send, _status(200), _error_is(400, "invalid_grant"))


def handoff_token(sandbox: Sandbox) -> OneTimeValue:
    service = sandbox.post_api("/token-services", {"name": "LMS", "landing_url": LANDING})
    with sandbox.browser_lock:
        launched = sandbox.browser.get(
            f"/t/{TENANT}/sso/token/launch", params={"service": service["service_id"]}
        )
    assert launched.status_code == 302, launched.text
    token = parse_qs(urlsplit(launched.headers["location"]).query)["token"][0]
    credential = (service["service_id"], service["service_secret"])

    def send(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{sandbox.ams.url}/t/{TENANT}/sso/token/validate", data={"token": token}, auth=credential
        )

    return OneTimeValue("hand-off token", sandbox.ams, send, _status(200), _error_is(400, "used_token"))


def idempotency_key(sandbox: Sandbox) -> OneTimeValue:
    """The same card tokenisation under one key: the first answer, then that answer replayed.

    The first use goes alone: on PostgreSQL, requests racing with a key not yet stored can still be
    answered 500 (the loser's insert breaks the key's unique constraint) instead of the replay.
    """
    headers = {"Authorization": f"Bearer {sandbox.tenant_key}", "Idempotency-Key": "card-once"}

    def send(http: httpx.Client) -> httpx.Response:
        return http.post(f"{sandbox.ams.url}/t/{TENANT}/gateway/v1/tokens", json=CARD, headers=headers)

    def replayed(answer: Answer) -> bool:
        return answer.status == 201 and answer.headers.get("idempotent-replayed") == "true"

    def first(answer: Answer) -> bool:
        return answer.status == 201 and "idempotent-replayed" not in answer.headers

    return OneTimeValue("Idempotency-Key", sandbox.ams, send, first, replayed, first_alone=True)


def saml_assertion(sandbox: Sandbox) -> OneTimeValue:
    """An unsolicited SAML response minted by the AMS for the LMS, posted to the LMS's ACS."""
    metadata_url = f"{sandbox.lms.url}/t/{TENANT}/saml/metadata"
    sandbox.post_api("/saml/service-providers", {"metadata_url": metadata_url})
    minted = sandbox.post_api("/saml/responses", {"sp": metadata_url, "email": "active.member@demo.test"})

    def send(http: httpx.Client) -> httpx.Response:
        return http.post(minted["acs_url"], data={"SAMLResponse": minted["saml_response"]})

    def refused(answer: Answer) -> bool:
        return answer.status == 403 and "saml_replayed_assertion" in answer.body

    return OneTimeValue("SAML assertion ID", sandbox.lms, send, _status(302), refused)


def test_every_one_time_value_is_accepted_once_across_worker_processes(sandbox: Sandbox) -> None:
    values = [
        client_assertion(sandbox),
        authorization_code(sandbox),
        refresh_token(sandbox),
        handoff_token(sandbox),
        idempotency_key(sandbox),
        saml_assertion(sandbox),
    ]

    answers = {value.name: replay(value.app, value.send, value.first_alone) for value in values}

    outcomes = {value.name: value.judged(answers[value.name]) for value in values}
    assert outcomes == {value.name: {"accepted": 1, "unexpected": []} for value in values}
    assert len({answer.body["id"] for answer in answers["Idempotency-Key"]}) == 1  # retries get the first
