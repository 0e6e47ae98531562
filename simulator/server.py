"""Serving an app with gunicorn (threads per worker process), as ``sandbox serve`` and ``sandbox up`` do;
over HTTPS with the data folder's certificate when the ``tls`` setting is on (:mod:`simulator.core.tls`)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from simulator.config import SandboxConfig
from simulator.core import tls


def create_named_app(name: str, config: SandboxConfig) -> Any:
    """The WSGI app called ``name`` (console, ams or lms)."""
    if name == "ams":
        from simulator.ams.app import create_app
    elif name == "lms":
        from simulator.lms.app import create_app
    elif name == "console":
        from simulator.console.app import create_app
    else:
        raise ValueError(f"unknown app {name!r}")
    return create_app(config)


class _Gunicorn(BaseApplication):
    def __init__(self, name: str, config: SandboxConfig, options: dict[str, Any]) -> None:
        self.app_name = name
        self.sandbox_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_named_app(self.app_name, self.sandbox_config)


def serve_app(name: str, config: SandboxConfig, workers: int = 1) -> None:
    """Run ``name`` until SIGINT/SIGTERM on its configured port."""
    port = {"console": config.console_port, "ams": config.ams_port, "lms": config.lms_port}[name]
    options = {
        "bind": f"{config.bind}:{port}",
        "workers": workers,
        "worker_class": config.worker_class,
        "threads": config.threads,
        "timeout": 120,
        "graceful_timeout": 5,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": f"sandbox-{name}",
        # gunicorn's control socket defaults to one path per user: the three apps (and any other
        # sandbox on the machine) would race to create and replace it.
        "control_socket_disable": True,
    }
    files = tls.configure(config)
    if files is not None:
        options |= {"certfile": str(files.certificate), "keyfile": str(files.key)}
    _Gunicorn(name, config, options).run()
