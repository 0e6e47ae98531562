"""Secrets at rest: private keys, API keys and shared secrets are stored encrypted, with a key kept outside
the database.

The key is the ``secret_key`` setting (``SANDBOX_SECRET_KEY``), else the file ``data_dir/secret_key``,
made on the first start (mode 0600, race-safe: :func:`simulator.config.read_or_create_file`). Either may
hold several Fernet keys separated by commas, newest first: the newest encrypts, every one decrypts. A
rotation puts a new key first, runs ``sandbox secrets rotate`` (:func:`rotate_secrets`: every stored
secret re-encrypted with it, in one transaction), then drops the old key.

Columns declare :class:`EncryptedText` (a text secret) or :class:`JSONWithSecrets` (a JSON document whose
members named ``*secret`` are encrypted: the rule the API masks them by). Models keep their attribute
names and the code that reads them sees plain text. A stored value reads ``fernet:<token>`` (Fernet:
AES-128-CBC with HMAC-SHA256, https://github.com/fernet/spec); a value without that prefix is plain text
from before migration 0014 and is read as it is (``rotate`` encrypts it).

Each process sets its keyring up once as it starts (:func:`configure`: the apps, the worker, the CLI),
and refuses to start when the stored secrets were encrypted with a key it does not have. The key is never
logged, shown or stored in the database.

Example::

    configure(config, db)     # one plain sentence (SecretKeyError) when the key does not fit the data
    row.private_key_pem       # plain PEM in memory; "fernet:gAAAA…" in the column
    rotate_secrets(db)        # Rotation(reencrypted=9, were_plain=0)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Column, Connection, Table, Text, cast, inspect, select
from sqlalchemy import column as raw_column
from sqlalchemy import table as raw_table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from simulator.config import SandboxConfig, read_or_create_file
from simulator.core.db import Base, Database, JSONDocument
from simulator.core.errors import ConfigError

log = logging.getLogger(__name__)

ENCRYPTED_PREFIX = "fernet:"
KEY_FILE = "secret_key"
KEY_SETTING = "SANDBOX_SECRET_KEY"
KEY_SEPARATORS = re.compile(r"[,\s]+")
SECRET_MEMBER_SUFFIX = "secret"  # noqa: S105 - a member name, not a secret
"""A JSON member whose name ends so holds a secret (as :func:`simulator.core.settings.masked_settings`)."""

WRONG_KEY_ADVICE = (
    f"set {KEY_SETTING} (or the file data_dir/{KEY_FILE}) to the key the database's secrets were encrypted "
    "with; after a rotation keep the old key after the new one until `sandbox secrets rotate` has run"
)


class SecretKeyError(ConfigError):
    """The secret key is missing, malformed or does not open the stored secrets."""

    code = "secret_key_error"


class Keyring:
    """The configured Fernet keys, newest first: the newest encrypts, any of them decrypts."""

    def __init__(self, keys: Sequence[str], source: str) -> None:
        if not keys:
            raise SecretKeyError(f"{source} holds no key.")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                raise SecretKeyError(
                    f"Key {position} in {source} is not a Fernet key (44 characters of URL-safe base64, as "
                    "`sandbox secrets generate-key` prints)."
                ) from None
        self._fernet = MultiFernet(fernets)
        self.size = len(fernets)
        self.source = source

    def __repr__(self) -> str:
        return f"Keyring({self.size} key{'s' if self.size != 1 else ''} from {self.source})"

    def encrypt(self, plain: str) -> str:
        return ENCRYPTED_PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plain text of a stored value (a value stored before encryption is returned as it is)."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "A secret in the database was encrypted with a key this sandbox does not have: "
                f"{WRONG_KEY_ADVICE}."
            ) from None

    def rotate(self, stored: str) -> str:
        """``stored`` encrypted with the newest key (a plain value is encrypted)."""
        return self.encrypt(self.decrypt(stored))

    def opens(self, stored: str) -> bool:
        try:
            self.decrypt(stored)
        except SecretKeyError:
            return False
        return True


def is_encrypted(stored: str) -> bool:
    return stored.startswith(ENCRYPTED_PREFIX)


def generate_key() -> str:
    """A new random Fernet key (what ``sandbox secrets generate-key`` prints)."""
    return Fernet.generate_key().decode()


def parse_keys(text: str, source: str) -> Keyring:
    """The keys in ``text``, separated by commas or white space, newest first."""
    return Keyring([key for key in KEY_SEPARATORS.split(text) if key], source)


def key_file(config: SandboxConfig) -> Path:
    return config.data_dir.resolve() / KEY_FILE


def configured_keyring(config: SandboxConfig) -> Keyring | None:
    """The keyring the settings name, else the one in the key file; ``None`` when neither exists yet."""
    if config.secret_key is not None:
        return parse_keys(config.secret_key.get_secret_value(), KEY_SETTING)
    path = key_file(config)
    if path.exists():
        return parse_keys(path.read_text(), str(path))
    return None


# --- the keyring of this process ---

_installed: list[Keyring] = []
"""This process's keyring (one at most): set by :func:`configure` as the process starts."""


def install(keyring: Keyring) -> None:
    """Make ``keyring`` the one this process's encrypted columns use."""
    _installed[:] = [keyring]


def installed_keyring() -> Keyring:
    if not _installed:
        raise SecretKeyError(
            "No secret key is set up in this process: start it with `sandbox up`, `sandbox serve` or "
            "`sandbox migrate`, which read it from the settings."
        )
    return _installed[0]


def configure(config: SandboxConfig, db: Database) -> Keyring:
    """Set this process's keyring up from ``config``, after checking it opens the secrets ``db`` holds.

    Without a configured key, one is made and kept in ``data_dir/secret_key``, unless the database
    already holds encrypted secrets (then their key is missing and a new one would open nothing). The
    check reads one stored value of each encrypted column this process knows of.
    """
    keyring = configured_keyring(config)
    samples = encrypted_samples(db)
    if keyring is None and samples:
        raise SecretKeyError(
            f"The database holds encrypted secrets but no secret key is set: set {KEY_SETTING} to the key "
            f"they were encrypted with, or put its file back at {key_file(config)}."
        )
    if keyring is None:
        config.ensure_data_dir()
        path = key_file(config)
        keyring = parse_keys(read_or_create_file(path, _new_key_file).decode(), str(path))
    elif not all(keyring.opens(sample) for sample in samples):
        raise SecretKeyError(
            f"The secrets in the database were encrypted with a key that {keyring.source} does not hold: "
            f"{WRONG_KEY_ADVICE}."
        )
    install(keyring)
    return keyring


def _new_key_file() -> bytes:
    return (generate_key() + "\n").encode()


# --- column types ---


class EncryptedText(TypeDecorator[str]):
    """A text secret, stored as ``fernet:<token>`` (TEXT: a token is 4/3 of the plain text, plus ~100)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else installed_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or not is_encrypted(value):
            return value
        return installed_keyring().decrypt(value)


class JSONWithSecrets(TypeDecorator[Any]):
    """A JSON document (JSONB on PostgreSQL) whose string members named ``*secret`` are stored encrypted."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if next(secret_members(value), None) is None:
            return value
        return map_secret_members(value, installed_keyring().encrypt)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return reveal_secret_members(value)


def secret_members(document: Any) -> Iterator[str]:
    """Every ``*secret`` string member of ``document``, at any depth."""
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, str) and key.endswith(SECRET_MEMBER_SUFFIX):
                yield value
            else:
                yield from secret_members(value)
    elif isinstance(document, list):
        for item in document:
            yield from secret_members(item)


def map_secret_members(document: Any, change: Callable[[str], str]) -> Any:
    """A copy of ``document`` with ``change`` applied to every ``*secret`` string member."""
    if isinstance(document, dict):
        return {
            key: change(value)
            if isinstance(value, str) and key.endswith(SECRET_MEMBER_SUFFIX)
            else map_secret_members(value, change)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [map_secret_members(item, change) for item in document]
    return document


def reveal_secret_members(document: Any) -> Any:
    """``document`` with its encrypted ``*secret`` members decrypted (itself when it has none).

    For code that reads a :class:`JSONWithSecrets` column as raw JSON text, as the tenant snapshot does.
    """
    if not any(is_encrypted(value) for value in secret_members(document)):
        return document
    return map_secret_members(document, installed_keyring().decrypt)


# --- every encrypted column, for the start-up check and rotation ---


def encrypted_columns() -> list[tuple[Table, Column[Any]]]:
    """Every column of an encrypted type among the tables this process has imported."""
    return [
        (table, column)
        for _name, table in sorted(Base.metadata.tables.items())
        for column in table.columns
        if isinstance(column.type, (EncryptedText, JSONWithSecrets))
    ]


def _raw(table: Table, column: Column[Any]) -> tuple[Any, Any]:
    """(``table``, ``column``) as plain types: what is stored, with no encryption in between."""
    stored = raw_column(column.name, JSONDocument if isinstance(column.type, JSONWithSecrets) else Text())
    primary_key = [raw_column(key.name) for key in table.primary_key.columns]
    return raw_table(table.name, *primary_key, stored), stored


def encrypted_samples(db: Database) -> list[str]:
    """One encrypted value of each encrypted column that holds any (of the tables that exist yet)."""
    with db.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        existing = set(inspect(connection).get_table_names())
        found = [
            _first_encrypted_in(connection, table, column)
            for table, column in encrypted_columns()
            if table.name in existing
        ]
    return [value for value in found if value is not None]


def _first_encrypted_in(connection: Connection, table: Table, column: Column[Any]) -> str | None:
    raw, stored = _raw(table, column)
    if not isinstance(column.type, JSONWithSecrets):
        return connection.scalar(select(stored).where(stored.like(ENCRYPTED_PREFIX + "%")).limit(1))
    as_text = cast(stored, Text)
    holding = as_text.like(f'%"{ENCRYPTED_PREFIX}%')
    text = connection.scalar(select(as_text).select_from(raw).where(holding).limit(1))
    if text is None:
        return None
    return next((value for value in secret_members(json.loads(text)) if is_encrypted(value)), None)


@dataclass(frozen=True)
class Rotation:
    """What :func:`rotate_secrets` did."""

    reencrypted: int
    """Stored secrets now encrypted with the newest key."""
    were_plain: int
    """Of those, how many had been stored in the clear."""

    def sentence(self, keyring: Keyring) -> str:
        plain = f" ({self.were_plain} of them had been stored in the clear)" if self.were_plain else ""
        key = (
            f"the newest of the {keyring.size} configured keys" if keyring.size > 1 else "the configured key"
        )
        secrets = "secret" if self.reencrypted == 1 else "secrets"
        return f"Re-encrypted {self.reencrypted} stored {secrets}{plain} with {key}."


def rotate_secrets(db: Database, keyring: Keyring | None = None) -> Rotation:
    """Re-encrypt every stored secret with the newest key, in one transaction (nothing changes on error).

    A value none of the keys opens stops the rotation with a :class:`SecretKeyError` naming its column.
    """
    keyring = keyring or installed_keyring()
    reencrypted = were_plain = 0
    with db.session() as session:
        for table, column in encrypted_columns():
            raw, stored = _raw(table, column)
            keys = [raw.c[key.name] for key in table.primary_key.columns]
            document = isinstance(column.type, JSONWithSecrets)
            for *row_key, value in session.execute(select(*keys, stored).where(stored.is_not(None))).all():
                secrets = list(secret_members(value)) if document else [value]
                if not secrets:
                    continue
                try:
                    rotated = map_secret_members(value, keyring.rotate) if document else keyring.rotate(value)
                except SecretKeyError:
                    raise SecretKeyError(
                        f"A secret in {table.name}.{column.name} was encrypted with a key that "
                        f"{keyring.source} does not hold, so nothing was re-encrypted: add that key after "
                        "the new one and run `sandbox secrets rotate` again."
                    ) from None
                where = [key == part for key, part in zip(keys, row_key, strict=True)]
                session.execute(raw.update().where(*where).values({column.name: rotated}))
                reencrypted += len(secrets)
                were_plain += sum(1 for secret in secrets if not is_encrypted(secret))
    log.info("re-encrypted %d stored secrets with the newest key", reencrypted)
    return Rotation(reencrypted, were_plain)
