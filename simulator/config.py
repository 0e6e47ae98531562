"""One settings object for the whole sandbox process tree.

Every setting has a default. Values are taken, last one winning, from: the defaults below, a TOML file
(``SANDBOX_CONFIG=path`` or ``--config path``; ``./sandbox.toml`` when present), ``SANDBOX_*``
environment variables, and explicit overrides (CLI flags, tests).

Example::

    config = load_config(overrides={"ams_port": 9001})
    config.ams_url  # 'http://127.0.0.1:9001'; 'https://127.0.0.1:9001' with tls=True
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from simulator.core.errors import ConfigError

ENV_PREFIX = "SANDBOX_"
DEFAULT_CONFIG_FILE = "sandbox.toml"


class SandboxConfig(BaseModel):
    """Process-wide settings (tenant behaviour lives in each tenant's settings document instead)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".sandbox"), description="Holds the SQLite file and generated keys.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default: a SQLite file in data_dir. postgresql+psycopg://… to scale.",
    )
    admin_key: str | None = Field(
        None, description="Bearer key for the control plane; generated once and kept in data_dir when unset."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that encrypts the secrets stored in the database (Fernet; several comma-separated, "
        "newest first, during a rotation); generated once and kept in data_dir when unset.",
    )
    bind: str = Field("127.0.0.1", description="Address the three apps listen on.")
    console_port: int = Field(8000, ge=1, le=65535, description="Console and control API port.")
    ams_port: int = Field(8001, ge=1, le=65535, description="AMS port.")
    lms_port: int = Field(8002, ge=1, le=65535, description="LMS port.")
    public_host: str | None = Field(
        None, description="Host name used in URLs the apps hand out (issuers, redirects); default: bind."
    )
    tls: bool = Field(
        False,
        description="Serve the three apps over HTTPS with a certificate from a local CA made once in "
        "data_dir/tls (`sandbox tls ca` prints it); every URL handed out is then https://.",
    )
    threads: int = Field(8, ge=1, le=256, description="Request threads per app process (thread workers).")
    worker_class: Literal["gthread", "gevent"] = Field(
        "gthread",
        description="gunicorn worker class of each app process: 'gthread' (`threads` request threads) or "
        "'gevent' (a greenlet per request: less CPU per request, for sign-in load tests).",
    )
    password_hash_iterations: int = Field(
        1_000, ge=1, description="PBKDF2 rounds for the sandbox's fake passwords (kept low on purpose)."
    )
    journal_body_limit: int = Field(
        4_096, ge=0, description="Bytes of each body kept in the request journal."
    )
    key_attempt_limit: int = Field(
        10,
        ge=0,
        le=100_000,
        description="Wrong API keys a client (remote address) may send within key_attempt_window_seconds; "
        "after that every key it sends is refused (429) until the oldest stops counting. 0: no limit.",
    )
    key_attempt_window_seconds: float = Field(
        60.0, gt=0, le=86_400, description="How long a wrong API key counts against its client."
    )
    worker_poll_seconds: float = Field(0.5, gt=0, description="How often the worker looks for due work.")
    log_level: str = Field("INFO", description="Python logging level name.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sandbox.db').resolve()}"

    def _url(self, port: int) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.public_host or self.bind}:{port}"

    @property
    def console_url(self) -> str:
        return self._url(self.console_port)

    @property
    def ams_url(self) -> str:
        return self._url(self.ams_port)

    @property
    def lms_url(self) -> str:
        return self._url(self.lms_port)

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def effective_admin_key(self) -> str:
        """The admin key: the configured one, else one generated once and kept in ``data_dir``."""
        if self.admin_key:
            return self.admin_key
        return _read_or_create_secret(self.ensure_data_dir() / "admin_key")

    def flask_secret_key(self) -> str:
        """Key for signed browser sessions, shared by every process that uses the same data_dir."""
        return _read_or_create_secret(self.ensure_data_dir() / "session_secret")


def _read_or_create_secret(path: Path) -> str:
    """The secret kept in ``path``, made on first use (see :func:`read_or_create_file`)."""

    def make() -> bytes:
        if path.name == "admin_key":
            return ("sbx_admin_" + secrets.token_urlsafe(24)).encode()
        return secrets.token_hex(32).encode()

    return read_or_create_file(path, make).decode().strip()


def read_or_create_file(path: Path, make: Callable[[], bytes], mode: int = 0o600) -> bytes:
    """The bytes kept in ``path``, made by ``make()`` on first use; safe when several processes start at once.

    The value is written whole to a private temporary file (created with ``mode``) that is then
    hard-linked into place: the link either appears complete or fails because another process linked
    first, whose value wins. No process ever reads a half-written file or crashes on the race.
    """
    if path.exists():
        return path.read_bytes()
    value = make()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, value)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_bytes()
    finally:
        draft.unlink()
    return value


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting: used by docs and ``--help``."""
    rows = []
    for name, field in SandboxConfig.model_fields.items():
        default = "" if field.default is None else str(field.default)
        rows.append((ENV_PREFIX + name.upper(), default, field.description or ""))
    return rows


def load_config(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SandboxConfig:
    """Build the settings from defaults, TOML file, environment and overrides (in that order)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path is None and Path(DEFAULT_CONFIG_FILE).exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        try:
            with open(path, "rb") as handle:
                from_file = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"Cannot read the configuration file {path}: {exc.strerror}.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The configuration file {path} is not valid TOML: {exc}.") from exc
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, f"'{{name}}' in {path}"))
    for name in SandboxConfig.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            values[name] = env[key]
            sources[name] = key
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = f"--{name.replace('_', '-')}"
    try:
        return SandboxConfig(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            where = sources.get(name, ENV_PREFIX + name.upper()).replace("{name}", name)
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError(f"Invalid configuration: {'; '.join(problems)}.") from exc
