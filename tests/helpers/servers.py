"""Serve WSGI apps on real 127.0.0.1 sockets for a test (werkzeug's threaded server, one thread each)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def serving(*apps: tuple[int, Any]) -> Iterator[None]:
    """Serve each ``(port, app)`` until the block ends; every server is shut down and joined after."""
    servers = [make_server("127.0.0.1", port, app, threaded=True) for port, app in apps]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)
