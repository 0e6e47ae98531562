"""Secrets at rest: private keys, API keys and shared secrets are stored encrypted with a key kept outside
the database; the key rotates, a wrong or missing key is one plain sentence, and migration 0014 encrypts a
database that held them in the clear. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select, text

import simulator.models  # noqa: F401 - every table with an encrypted column
from simulator.ams.idp.models import SigningKey
from simulator.ams.writeback.models import InboxSecret
from simulator.cli import main
from simulator.config import SandboxConfig
from simulator.console.service import create_seeded_tenant
from simulator.core import secrets_at_rest
from simulator.core.db import Database, alembic_config
from simulator.core.models import Tenant
from simulator.core.outbox import enqueue
from simulator.core.outbox_models import OutboxMessage, WebhookEndpoint
from simulator.core.secrets_at_rest import ENCRYPTED_PREFIX, SecretKeyError, generate_key, rotate_secrets
from simulator.lms.commerce.models import AmsLink
from simulator.lms.sso.models import ServiceProviderKey
from tests.conftest import make_config

TENANT = "acme"
SECRET_COLUMNS = [
    ("idp_signing_keys", "private_key_pem"),
    ("lms_sp_keys", "private_key_pem"),
    ("lms_ams_links", "api_key"),
    ("lms_ams_links", "webhook_secret"),
    ("ams_inbox_secrets", "secret"),
    ("outbox_endpoints", "secret"),
]
"""The secret columns a seeded tenant fills (gateway secrets and OIDC clients come with first use)."""


@dataclass
class World:
    tmp_path: Path
    config: SandboxConfig
    db: Database

    def reconfigured(self, secret_key: str | None) -> SandboxConfig:
        """The same sandbox started with ``secret_key`` (``None``: the key file)."""
        config = make_config(self.tmp_path, self.db.url, secret_key=secret_key)
        secrets_at_rest.configure(config, self.db)
        return config


@pytest.fixture
def world(tmp_path: Path, any_db_url: str) -> Iterator[World]:
    config = make_config(tmp_path, any_db_url)
    db = Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)
    db.upgrade()
    create_seeded_tenant(db, config, TENANT)
    try:
        yield World(tmp_path, config, db)
    finally:
        db.dispose()


def stored(db: Database, table: str, column: str) -> list[str]:
    """What the column holds, read with plain SQL."""
    with db.engine.connect() as connection:
        return [row[0] for row in connection.execute(text(f"SELECT {column} FROM {table}"))]


def stored_settings(db: Database) -> str:
    """The tenants' settings documents as stored (JSON text; JSONB comes back parsed)."""
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT settings, initial_settings FROM tenants")).all()
    return json.dumps(
        [value if isinstance(value, str) else json.dumps(value) for row in rows for value in row]
    )


def plain_secrets(db: Database) -> dict[str, list[str]]:
    """Every secret as the application reads it from the database (through the models, no cache)."""
    with db.read() as session:
        tenant = session.get(Tenant, TENANT)
        assert tenant is not None
        link = session.scalars(select(AmsLink)).one()
        return {
            "signing key": list(session.scalars(select(SigningKey.private_key_pem))),
            "sp key": list(session.scalars(select(ServiceProviderKey.private_key_pem))),
            "link": [link.api_key, link.webhook_secret],
            "endpoints": sorted(session.scalars(select(WebhookEndpoint.secret))),
            "inbox": list(session.scalars(select(InboxSecret.secret))),
            "token service": [tenant.settings["sso"]["token_service_secret"]],
        }


def test_every_secret_column_holds_ciphertext_and_reads_back_as_plain_text(world: World) -> None:
    plain = plain_secrets(world.db)

    assert plain["signing key"][0].startswith("-----BEGIN PRIVATE KEY-----")
    assert plain["sp key"][0].startswith("-----BEGIN PRIVATE KEY-----")
    assert all(value.startswith("whsec_") for value in plain["endpoints"])
    everything_plain = [value for values in plain.values() for value in values]
    for table, column in SECRET_COLUMNS:
        values = stored(world.db, table, column)
        assert values, f"{table} should hold a row"
        for value in values:
            assert value.startswith(ENCRYPTED_PREFIX), f"{table}.{column} holds plain text"
            assert "PRIVATE KEY" not in value
            assert not any(secret in value for secret in everything_plain)
    settings = stored_settings(world.db)
    assert plain["token service"][0] not in settings and ENCRYPTED_PREFIX in settings


def test_the_key_file_is_made_once_readable_by_its_owner_only(world: World) -> None:
    key_file = world.config.data_dir / "secret_key"

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_text()
    world.reconfigured(None)
    assert key_file.read_text() == before


def test_a_rotation_re_encrypts_everything_and_the_old_key_can_go_afterwards(world: World) -> None:
    old_key = (world.config.data_dir / "secret_key").read_text().strip()
    new_key = generate_key()
    plain = plain_secrets(world.db)
    before = {column: stored(world.db, *column) for column in SECRET_COLUMNS}

    world.reconfigured(f"{new_key},{old_key}")
    rotation = rotate_secrets(world.db)

    assert rotation.reencrypted == sum(len(values) for values in before.values()) + 1  # + token service
    assert rotation.reencrypted == 9
    assert rotation.were_plain == 0
    old_only = secrets_at_rest.parse_keys(old_key, "the old key")
    for column, values in before.items():
        after = stored(world.db, *column)
        assert not set(after) & set(values), f"{column} was not re-encrypted"
        assert not any(old_only.opens(value) for value in after)
    world.reconfigured(new_key)
    assert plain_secrets(world.db) == plain
    with pytest.raises(SecretKeyError, match="SANDBOX_SECRET_KEY"):
        world.reconfigured(old_key)


def test_rotation_encrypts_a_value_left_in_the_clear(world: World) -> None:
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE lms_ams_links SET api_key = 'sbx_plain_legacy_key'"))

    rotation = rotate_secrets(world.db)

    assert rotation.were_plain == 1
    assert stored(world.db, "lms_ams_links", "api_key")[0].startswith(ENCRYPTED_PREFIX)
    assert plain_secrets(world.db)["link"][0] == "sbx_plain_legacy_key"


def test_a_secret_under_a_key_no_longer_configured_stops_the_rotation_and_changes_nothing(
    world: World,
) -> None:
    foreign = secrets_at_rest.parse_keys(generate_key(), "another sandbox").encrypt("sbx_foreign")
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE lms_ams_links SET api_key = :value"), {"value": foreign})
    before = {column: stored(world.db, *column) for column in SECRET_COLUMNS}

    with pytest.raises(SecretKeyError) as refused:
        rotate_secrets(world.db)

    assert "lms_ams_links.api_key" in refused.value.message
    assert "nothing was re-encrypted" in refused.value.message
    assert {column: stored(world.db, *column) for column in SECRET_COLUMNS} == before


def test_a_wrong_key_at_start_is_one_plain_sentence(world: World) -> None:
    wrong = generate_key()

    with pytest.raises(SecretKeyError) as refused:
        world.reconfigured(wrong)

    assert refused.value.message.startswith("The secrets in the database were encrypted with a key")
    assert "SANDBOX_SECRET_KEY" in refused.value.message and wrong not in refused.value.message


def test_a_secret_no_configured_key_opens_is_a_plain_problem_at_the_api(world: World) -> None:
    from simulator.lms.app import create_app

    lms = create_app(world.config, world.db).test_client()
    secrets_at_rest.install(secrets_at_rest.parse_keys(generate_key(), "a key rotated away too early"))
    try:
        response = lms.get(f"/t/{TENANT}/saml/metadata")  # reads the LMS's SP key
    finally:
        world.reconfigured(None)  # this process's key again, for the tests after this one

    assert response.status_code == 500
    problem = response.get_json()
    assert problem["code"] == "secret_key_error"
    assert problem["detail"].startswith("A secret in the database was encrypted with a key this sandbox")
    assert "SANDBOX_SECRET_KEY" in problem["detail"] and "Traceback" not in response.get_data(as_text=True)


def test_a_missing_key_file_with_encrypted_data_is_refused_and_not_replaced(world: World) -> None:
    key_file = world.config.data_dir / "secret_key"
    key_file.unlink()

    with pytest.raises(SecretKeyError, match="no secret key is set"):
        world.reconfigured(None)

    assert not key_file.exists()


@pytest.mark.parametrize("secret_key", ["not-a-key", f"{'A' * 43}=,also-wrong"])
def test_a_malformed_key_is_named_without_being_shown(tmp_path: Path, secret_key: str) -> None:
    config = make_config(tmp_path, "sqlite:///unused.db", secret_key=secret_key)

    with pytest.raises(SecretKeyError, match=r"Key \d in SANDBOX_SECRET_KEY is not a Fernet key") as refused:
        secrets_at_rest.configured_keyring(config)

    assert "also-wrong" not in refused.value.message and "not-a-key" not in refused.value.message


def sandbox(world: World, *args: str, secret_key: str | None = None) -> Any:
    env = {"SANDBOX_SECRET_KEY": secret_key} if secret_key else {}
    flags = ["--database-url", world.db.url, "--data-dir", str(world.config.data_dir)]
    return CliRunner().invoke(main, [*args, *flags], env=env)


def test_sandbox_secrets_rotate_says_what_it_did(world: World) -> None:
    old_key = (world.config.data_dir / "secret_key").read_text().strip()
    generated = CliRunner().invoke(main, ["secrets", "generate-key"])
    assert generated.exit_code == 0
    new_key = generated.output.strip()
    assert secrets_at_rest.parse_keys(new_key, "the new key").size == 1 and new_key != old_key

    result = sandbox(world, "secrets", "rotate", secret_key=f"{new_key},{old_key}")

    assert result.exit_code == 0, result.output
    assert result.output == "Re-encrypted 9 stored secrets with the newest of the 2 configured keys.\n"
    assert new_key not in result.output and old_key not in result.output
    assert sandbox(world, "migrate", secret_key=new_key).exit_code == 0


def test_the_cli_with_a_wrong_key_is_one_sentence_without_the_key(world: World) -> None:
    wrong = generate_key()

    for command_line in (["migrate"], ["secrets", "rotate"]):
        result = sandbox(world, *command_line, secret_key=wrong)

        assert result.exit_code == 1
        assert result.output.startswith("Error: The secrets in the database were encrypted with a key")
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
        assert wrong not in result.output


def test_the_key_shows_in_no_settings_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.chdir(tmp_path)
    config = make_config(tmp_path, "sqlite:///x.db", secret_key=key)

    listing = CliRunner().invoke(main, ["config", "--json"], env={"SANDBOX_SECRET_KEY": key})

    assert listing.exit_code == 0 and "SANDBOX_SECRET_KEY" in listing.output
    assert key not in listing.output and key not in repr(config) and key not in str(config.model_dump())


def test_a_process_started_afresh_gets_the_key_itself(tmp_path: Path) -> None:
    """``sandbox up --worker-class gevent`` starts its apps as new processes, configured by environment."""
    from simulator.cli.servers import _child_env

    key = generate_key()
    config = make_config(tmp_path, "sqlite:///unused.db", secret_key=key)

    assert _child_env(config)["SANDBOX_SECRET_KEY"] == key


def test_migration_0014_encrypts_a_database_that_held_secrets_in_the_clear(world: World) -> None:
    with world.db.session() as session:
        endpoint = session.scalars(select(WebhookEndpoint.name)).first()
        enqueue(session, TENANT, endpoint=endpoint, topic="test.event", message_id="msg_1", payload={})
    plain = plain_secrets(world.db)
    command.downgrade(alembic_config(world.db), "0013")  # the secrets as the release before stored them
    assert stored(world.db, "idp_signing_keys", "private_key_pem")[0].startswith("-----BEGIN PRIVATE KEY")
    assert plain["token service"][0] in stored_settings(world.db)
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE lms_ams_links SET api_key = 'sbx_written_by_0013'"))

    world.db.upgrade()

    for table, column in SECRET_COLUMNS:
        assert all(value.startswith(ENCRYPTED_PREFIX) for value in stored(world.db, table, column))
    assert plain["token service"][0] not in stored_settings(world.db)
    read_back = plain_secrets(world.db)
    assert read_back["link"][0] == "sbx_written_by_0013"
    assert {name: values for name, values in read_back.items() if name != "link"} == {
        name: values for name, values in plain.items() if name != "link"
    }
    with world.db.read() as session:  # rebuilding outbox_endpoints on SQLite kept the rows pointing at it
        assert session.scalar(select(OutboxMessage.topic)) == "test.event"
    with world.db.read() as session:  # the key read back still signs what its certificate verifies
        row = session.scalars(select(SigningKey)).one()
    private_key = serialization.load_pem_private_key(row.private_key_pem.encode(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    signature = private_key.sign(b"signed after 0014", padding.PKCS1v15(), hashes.SHA256())
    public_key = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, b"signed after 0014", padding.PKCS1v15(), hashes.SHA256())
