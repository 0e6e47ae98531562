"""No private key or secret at rest in the clear.

The scenario library runs over real HTTP against the AMS, LMS and console (served in threads) with a
worker: SAML, OIDC and token hand-off sign-ins, card, bundle, bulk and phone orders, refunds, purchase
webhooks, immediate and nightly writeback and writeback through an outage. Then a tenant of our own
signs a member in with a password of its own, sets a writeback endpoint secret and pays with every test
card. Afterwards nothing in the whole database (every table: the request journal, the outbox, stored
scenario runs…) or in the logs reads as a private key, an API key, a card number, a password, a client
or webhook secret, or the key that encrypts the stored secrets. On SQLite (a logical dump and the raw
file with its WAL) and PostgreSQL (every row of every table).

Every library scenario runs but 14 and 15, which kill processes: they need ``sandbox up``, and
tests/e2e/test_no_secret_under_sandbox_up.py runs them there and makes the same scan.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, make_url, select

import simulator.models  # noqa: F401 - every table, for reading the secrets back
from simulator.ams.gateway.models import GatewaySecret
from simulator.ams.idp.models import SigningKey
from simulator.ams.writeback.models import InboxSecret
from simulator.config import SandboxConfig
from simulator.core import secrets_at_rest
from simulator.core.db import Database
from simulator.core.models import Tenant
from simulator.core.outbox_models import WebhookEndpoint
from simulator.lms.commerce.models import AmsLink
from simulator.lms.sso import remote
from simulator.lms.sso.models import OidcClientRegistration, ServiceProviderKey
from simulator.scenario.client import ApiError, SandboxClient, TenantClient
from simulator.scenario.loader import load_scenario, parse_scenario
from simulator.scenario.packaged import library_files
from simulator.scenario.runner import run_scenario
from simulator.scenario.target import free_ports
from simulator.worker import run_worker
from tests.commerce.conftest import TEST_CARDS
from tests.commerce.test_card_numbers import spaced
from tests.conftest import ADMIN_KEY, make_config
from tests.helpers.servers import serving

PROCESS_STEPS = re.compile(r"^\s*-?\s*(kill|pause|resume|restart):", re.MULTILINE)
"""Steps that steer the processes of a ``sandbox up``, which the apps served in threads here are not."""
LIBRARY_PART = [path for path in library_files() if not PROCESS_STEPS.search(path.read_text())]
"""Every library scenario but those that kill or pause processes (14 and 15)."""
PASSWORD = "Scan-Correct-Horse-7731"
EXTERNAL_SECRET = "whsec_scan_external_endpoint_secret_0042"
OWN_SCENARIO = f"""\
name: a member with a password of their own signs in, buys and completes a course
seed: {{faker_seed: 3, members: 2}}
settings:
  sso: {{protocol: saml}}
  writeback: {{external_endpoint: {{url: "http://127.0.0.1:9/hooks", secret: "{EXTERNAL_SECRET}"}}}}
actors:
  sam: {{member: {{}}, password: "{PASSWORD}"}}
steps:
  - sso_login: {{actor: sam}}
  - expect:
      lms.session: {{actor: sam, protocol: saml}}
  - add_to_cart: {{actor: sam, product: ETH-101}}
  - checkout: {{actor: sam, payment: card}}
  - wait_for:
      lms.enrollments: {{actor: sam, course: ETH-101, status: enrolled}}
      timeout: 15
  - start_course: {{actor: sam, course: ETH-101}}
  - complete_course: {{actor: sam, course: ETH-101, score: 90}}
"""


class RecordingClient(SandboxClient):
    """The scenario client, keeping each tenant it creates (with the tenant's API key)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenants: dict[str, TenantClient] = {}

    def create_tenant(self, tenant_id: str, *args: Any, **kwargs: Any) -> TenantClient:
        self.tenants[tenant_id] = super().create_tenant(tenant_id, *args, **kwargs)
        return self.tenants[tenant_id]


@dataclass
class Sandbox:
    config: SandboxConfig
    db: Database
    client: RecordingClient


@pytest.fixture
def sandbox(tmp_path: Path, any_db_url: str) -> Iterator[Sandbox]:
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console
    from simulator.lms.app import create_app as create_lms

    remote.clear_cache()
    console_port, ams_port, lms_port = free_ports(3)
    config = make_config(
        tmp_path,
        any_db_url,
        console_port=console_port,
        ams_port=ams_port,
        lms_port=lms_port,
        worker_poll_seconds=0.05,
    )
    db = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)
    db.upgrade()
    apps = [
        (console_port, create_console(config, db)),
        (ams_port, create_ams(config, db)),
        (lms_port, create_lms(config, db)),
    ]
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(config,), kwargs={"stop": stop})
    with serving(*apps):
        worker.start()
        client = RecordingClient(config.console_url, config.ams_url, config.lms_url, ADMIN_KEY)
        try:
            yield Sandbox(config, db, client)
        finally:
            client.close()
            stop.set()
            worker.join(timeout=10)
            db.dispose()
            remote.clear_cache()


def pay_with_every_test_card(tenant: TenantClient) -> None:
    """Tokenise each test card and check out with it (declines and the challenge included)."""
    member = tenant.member_by_email("active.member@demo.test")
    assert member is not None
    for number in TEST_CARDS.values():
        tenant.add_to_cart(member["member_id"], "ETH-101")
        with contextlib.suppress(ApiError):  # a declining card is refused: that is what it is for
            tenant.checkout(member["member_id"], {"card_token": tenant.card_token(number)})


def secrets_in_use(sandbox: Sandbox) -> dict[str, list[str]]:
    """Every secret the sandbox holds or was given, as plain text: none may be found at rest."""
    with sandbox.db.read() as session:
        pems = [*session.scalars(select(SigningKey.private_key_pem))]
        pems += session.scalars(select(ServiceProviderKey.private_key_pem))
        links = session.scalars(select(AmsLink)).all()
        settings = [
            value
            for tenant in session.scalars(select(Tenant))
            for document in (tenant.settings, tenant.initial_settings)
            for value in secrets_at_rest.secret_members(document)
            if value is not None
        ]
        found = {
            "a PEM private key header": ["PRIVATE KEY"],
            "a private key's body": [pem.splitlines()[1] for pem in pems],
            "an LMS credential at the AMS": [link.api_key for link in links],
            "a webhook secret": [link.webhook_secret for link in links]
            + list(session.scalars(select(WebhookEndpoint.secret)))
            + list(session.scalars(select(InboxSecret.secret))),
            "a gateway fingerprint key": list(session.scalars(select(GatewaySecret.secret))),
            "an OIDC client secret": [
                secret
                for secret in session.scalars(select(OidcClientRegistration.client_secret))
                if secret is not None
            ],
            "a secret in the tenant settings": settings,
        }
    found["a tenant API key"] = [tenant.key for tenant in sandbox.client.tenants.values()]
    found["the admin key"] = [ADMIN_KEY]
    found["a card number"] = [form for number in TEST_CARDS.values() for form in (number, spaced(number))]
    found["a password"] = [PASSWORD, "password=demo", '"password": "demo"', '"password":"demo"']
    key_file = sandbox.config.data_dir / secrets_at_rest.KEY_FILE
    found["the secret key"] = [key_file.read_text().strip()]
    return found


def database_dump(db: Database) -> str:
    """Everything the database holds: SQLite's logical dump plus its raw file and WAL (deleted rows and
    free pages too), or every row of every PostgreSQL table."""
    if db.is_sqlite:
        path = Path(make_url(db.url).database or "")
        with contextlib.closing(sqlite3.connect(path)) as connection:
            logical = "\n".join(connection.iterdump())
        raw = b"".join(file.read_bytes() for file in path.parent.glob(path.name + "*"))
        return logical + raw.decode("latin-1")
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    with db.engine.connect() as connection:
        tables = {
            name: [list(row) for row in connection.execute(table.select())]
            for name, table in metadata.tables.items()
        }
    return json.dumps(tables, default=str)


def test_no_secret_is_stored_journaled_or_logged_in_the_clear(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert len(LIBRARY_PART) >= 13, [path.name for path in LIBRARY_PART]
    for path in LIBRARY_PART:
        result = run_scenario(load_scenario(path), sandbox.client, keep_tenant=True)
        assert result.ok, result.to_json()
        sandbox.client.store_scenario_run(result.to_json())
    own = run_scenario(parse_scenario(OWN_SCENARIO), sandbox.client, keep_tenant=True)
    assert own.ok, own.to_json()
    pay_with_every_test_card(sandbox.client.tenants[own.tenant])

    secrets = secrets_in_use(sandbox)
    places = {"the database": database_dump(sandbox.db), "the logs": caplog.text}

    assert all(secrets.values()), {name: values for name, values in secrets.items() if not values}
    assert EXTERNAL_SECRET in secrets["a secret in the tenant settings"]
    assert EXTERNAL_SECRET in secrets["a webhook secret"]
    database = places["the database"]  # the scan reads what it should: the journal, encrypted secrets
    assert "/gateway/v1/tokens" in database and "/sso/token/validate" in database and "/login" in database
    assert secrets_at_rest.ENCRYPTED_PREFIX in database and "BEGIN CERTIFICATE" in database
    assert "tok_" in places["the logs"] and "4242" in places["the logs"]
    for what, values in secrets.items():
        for value in values:
            for place, text in places.items():
                assert value not in text, f"{what} is in {place} in the clear"
