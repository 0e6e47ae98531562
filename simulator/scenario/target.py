"""Where scenarios and certifications run: a sandbox named on the command line, the configured one, or a
temporary one started for the run.

A command that takes :func:`target_options` (``--console-url``, ``--ams-url``, ``--lms-url``,
``--admin-key``, ``--admin-key-file``) runs against the sandbox those options name, as a CI job pointing at
a remote sandbox would: each of the three apps must answer there, and no temporary sandbox is started.
Otherwise, when nothing answers at the configured console URL, :func:`sandbox_target` starts ``sandbox up
--no-demo`` on free 127.0.0.1 ports with a temporary data folder (SQLite) and its own admin key, waits
until the three apps answer, and stops the whole process group afterwards — nothing is left behind.
Its worker delivers writebacks and webhooks as the configured sandbox's would. With the ``tls`` setting
(or ``up_options=["--tls"]``) it serves HTTPS, and the client it yields trusts its CA.

https:// calls verify with :func:`simulator.core.tls.client_verify`: the default trust store, the
configured sandbox's CA when ``tls`` is on, and ``SANDBOX_CA_BUNDLE`` (a remote ``--tls`` sandbox's CA).

Example::

    sandbox scenario run scenarios/ --console-url https://sbx.example.org:8000 \
        --ams-url https://sbx.example.org:8001 --lms-url https://sbx.example.org:8002 \
        --admin-key-file /run/secrets/sandbox-admin-key
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from simulator.config import ENV_PREFIX, SandboxConfig
from simulator.core import tls
from simulator.core.errors import SandboxError
from simulator.scenario.client import SandboxClient

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
APPS = ("console", "ams", "lms")
APP_TITLES = {"console": "console", "ams": "AMS", "lms": "LMS"}
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class TargetOptions:
    """The sandbox a command line named: URLs and a key that take the place of the configured ones."""

    console_url: str | None = None
    ams_url: str | None = None
    lms_url: str | None = None
    admin_key: str | None = None

    @property
    def names_a_sandbox(self) -> bool:
        """Whether a URL was given: then that sandbox is used, and none is started."""
        return any((self.console_url, self.ams_url, self.lms_url))


def _url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"'{value}' is not an http:// or https:// URL.", ctx, param)
    return value.rstrip("/") if value is not None else None


def _key_file_option(ctx: click.Context, param: click.Parameter, value: Path | None) -> str | None:
    if value is None:
        return None
    try:
        key = value.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.BadParameter(f"{value} cannot be read ({exc.strerror}).", ctx, param) from exc
    if not key:
        raise click.BadParameter(f"{value} is empty.", ctx, param)
    return key


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--console-url``, ``--ams-url``, ``--lms-url``, ``--admin-key`` and ``--admin-key-file``; the
    command receives them as one ``target: TargetOptions`` argument."""

    @functools.wraps(func)
    def collect(*args: Any, **kwargs: Any) -> Any:
        key, key_file = kwargs.pop("admin_key"), kwargs.pop("admin_key_file")
        if key and key_file:
            raise click.UsageError("Give --admin-key or --admin-key-file, not both.")
        kwargs["target"] = TargetOptions(
            kwargs.pop("console_url"), kwargs.pop("ams_url"), kwargs.pop("lms_url"), key or key_file
        )
        return func(*args, **kwargs)

    options = [
        *(
            click.option(
                f"--{app}-url",
                metavar="URL",
                callback=_url_option,
                help=f"The {APP_TITLES[app]} of the sandbox to use (default: the configured one).",
            )
            for app in APPS
        ),
        click.option(
            "--admin-key", metavar="KEY", help="That sandbox's admin key (default: the configured one)."
        ),
        click.option(
            "--admin-key-file",
            type=click.Path(dir_okay=False, path_type=Path),
            callback=_key_file_option,
            help="Read the admin key from this file (e.g. a CI secret).",
        ),
    ]
    for option in reversed(options):
        collect = option(collect)
    return collect


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (the OS picks them)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextmanager
def sandbox_target(
    config: SandboxConfig,
    start_if_down: bool = True,
    options: TargetOptions | None = None,
    apps: tuple[str, ...] = APPS,
) -> Iterator[SandboxClient]:
    """A client for the sandbox ``options`` name, else the configured sandbox, else a temporary one
    started when nothing answers there (unless ``start_if_down`` is false).

    A sandbox named by a URL is never replaced by a temporary one: each of the ``apps`` the caller talks
    to must answer there (URLs not given come from the configuration), or a :class:`SandboxError` says
    which does not.
    """
    options = options or TargetOptions()
    if config.tls and tls.tls_files(config).ca.exists():  # the configured sandbox's own CA
        tls.trust(tls.tls_files(config).ca)
    if options.names_a_sandbox:
        urls = {app: getattr(options, f"{app}_url") or getattr(config, f"{app}_url") for app in APPS}
        for app in apps:
            _check_app_at(urls[app], app, given=getattr(options, f"{app}_url") is not None)
        key = options.admin_key or config.effective_admin_key()
        with SandboxClient(urls["console"], urls["ams"], urls["lms"], key) as client:
            yield client
        return
    if _answers(config.console_url):
        key = options.admin_key or config.effective_admin_key()
        with SandboxClient(config.console_url, config.ams_url, config.lms_url, key) as client:
            yield client
        return
    if not start_if_down:
        raise SandboxError(f"Nothing answers at {config.console_url}: start the sandbox with `sandbox up`.")
    with temporary_sandbox(up_options=["--tls"] if config.tls else ()) as temporary:
        yield temporary


@contextmanager
def temporary_sandbox(
    worker_poll_seconds: float = 0.2,
    settings: Mapping[str, str] | None = None,
    up_options: Sequence[str] = (),
) -> Iterator[SandboxClient]:
    """Start ``sandbox up --no-demo`` in a temporary folder on free ports; stop it for sure afterwards.

    ``settings`` are more ``SANDBOX_*`` settings by name (``{"database_url": …}``), ``up_options`` more
    options of ``sandbox up`` (``["--worker-class=gevent"]``): a benchmark uses them to choose the shape.
    With ``--tls`` among them (or a true ``tls`` setting) it serves HTTPS, and from then on this process
    trusts its CA (:func:`simulator.core.tls.trust`: held in memory, the folder goes away afterwards).
    """
    served_tls = "--tls" in up_options or str((settings or {}).get("tls", "")).lower() in TRUE_WORDS
    with tempfile.TemporaryDirectory(prefix="sandbox-scenario-") as folder:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        admin_key = "sbx_admin_" + secrets.token_urlsafe(24)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(ENV_PREFIX) or key == tls.CA_BUNDLE_ENV
        }
        env |= {
            f"{ENV_PREFIX}DATA_DIR": str(Path(folder) / "data"),
            f"{ENV_PREFIX}ADMIN_KEY": admin_key,
            f"{ENV_PREFIX}WORKER_POLL_SECONDS": str(worker_poll_seconds),
            f"{ENV_PREFIX}LOG_LEVEL": "WARNING",
        }
        env |= {f"{ENV_PREFIX}{name.upper()}": value for name, value in (settings or {}).items()}
        command = [
            sys.executable,
            "-c",
            "from simulator.cli import main; main()",
            "up",
            "--no-demo",
            "--bind=127.0.0.1",
            *(f"--{app}-port={port}" for app, port in ports.items()),
            *up_options,
        ]
        log_path = Path(folder) / "sandbox.log"
        with open(log_path, "wb") as output:
            process = subprocess.Popen(
                command, env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        scheme = "https" if served_tls else "http"
        urls = {app: f"{scheme}://127.0.0.1:{port}" for app, port in ports.items()}
        ca_path = Path(folder) / "data" / tls.TLS_FOLDER / "ca.pem" if served_tls else None
        client = None
        try:
            _wait_until_up(process, urls, log_path, ca_path)
            client = SandboxClient(urls["console"], urls["ams"], urls["lms"], admin_key)
            log.info("temporary sandbox up at %s", urls["console"])
            yield client
        finally:
            if client is not None:
                client.close()
            stop_process_group(process)


def _answers(console_url: str) -> bool:
    try:
        return httpx.get(f"{console_url}/healthz", timeout=2.0, verify=tls.client_verify()).status_code == 200
    except httpx.HTTPError:
        return False


def _check_app_at(url: str, app: str, given: bool) -> None:
    """Raise a :class:`SandboxError` unless the sandbox's ``app`` answers its health check at ``url``."""
    where = f"--{app}-url" if given else f"the configured {APP_TITLES[app]} URL; give it with --{app}-url"
    try:
        response = httpx.get(f"{url}/healthz", timeout=5.0, verify=tls.client_verify())
    except httpx.HTTPError:
        raise SandboxError(
            f"Nothing answers at {url} ({where}): check the address and that the sandbox there is running."
        ) from None
    try:
        found = response.json().get("app")
    except (ValueError, AttributeError):
        found = None
    if found in APP_TITLES and found != app:
        raise SandboxError(
            f"{url} ({where}) is the sandbox's {APP_TITLES[found]}, not its {APP_TITLES[app]}."
        )
    if found != app:
        status = response.status_code
        raise SandboxError(
            f"{url} ({where}) is not the sandbox's {APP_TITLES[app]}: /healthz answered {status}."
        )
    if response.status_code != 200:
        raise SandboxError(f"The {APP_TITLES[app]} at {url} ({where}) is up but cannot reach its database.")


def _wait_until_up(
    process: subprocess.Popen[bytes], urls: dict[str, str], log_path: Path, ca_path: Path | None
) -> None:
    """Wait until the three apps answer; when the sandbox serves HTTPS, trust its CA at ``ca_path`` (from
    the moment ``up`` made it) in this process."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    pending = list(urls.values())
    while pending:
        if process.poll() is not None:
            raise SandboxError(
                f"The temporary sandbox stopped during start-up:\n{log_path.read_text()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise SandboxError(f"The temporary sandbox did not answer within {START_TIMEOUT_SECONDS:.0f} s.")
        if ca_path is not None and ca_path.exists():  # `up` links it in whole
            tls.trust(ca_path)
            ca_path = None
        try:
            if (
                ca_path is None
                and httpx.get(f"{pending[0]}/healthz", timeout=1.0, verify=tls.client_verify()).status_code
                == 200
            ):
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM to the whole process group (``up`` stops its children in order), then SIGKILL to whatever
    of the group is left after ``timeout`` seconds (the group leader may be gone while a child lingers)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("process group %s ignored SIGTERM; killing it", process.pid)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(10)
