"""Serving one broken SP over real HTTP on 127.0.0.1, in a background thread or in the foreground.

Example::

    with running_sp("no-replay-cache", idp_metadata_url) as base_url:
        httpx.get(f"{base_url}/metadata")
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from conformance.broken import create_app
from simulator.core.tls import client_verify

HOST = "127.0.0.1"
METADATA_TIMEOUT_SECONDS = 10.0


class OneRequestPerConnection(WSGIRequestHandler):
    """HTTP/1.0: every connection ends with its response, so no handler thread idles on a keep-alive."""

    protocol_version = "HTTP/1.0"
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are not logged (a conformance run makes hundreds); errors still are."""


def _not_started(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Stands in for the app while the port, hence the base URL, is not known yet."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def bind_sp(
    flaw: str, idp_metadata_url: str, port: int = 0, allow_unsolicited: bool = False
) -> BaseWSGIServer:
    """A threaded server on ``HOST:port`` (0: a free port) with the SP app, not yet serving.

    The IdP metadata is fetched once, now; the SP's base URL is ``http://127.0.0.1:<bound port>``.
    """
    metadata = httpx.get(
        idp_metadata_url, timeout=METADATA_TIMEOUT_SECONDS, follow_redirects=True, verify=client_verify()
    )
    metadata.raise_for_status()
    server = make_server(HOST, port, _not_started, threaded=True, request_handler=OneRequestPerConnection)
    server.daemon_threads = False  # server_close() then waits for the handler threads
    try:
        server.app = create_app(flaw, base_url_of(server), metadata.text, allow_unsolicited)
    except ValueError:
        server.server_close()
        raise
    return server


def base_url_of(server: BaseWSGIServer) -> str:
    return f"http://{HOST}:{server.server_port}"


@contextmanager
def running_sp(flaw: str, idp_metadata_url: str, allow_unsolicited: bool = False) -> Iterator[str]:
    """Serve the SP with ``flaw`` on a free port in a daemon thread; yields its base URL.

    On exit the server stops, its port is closed and no thread of it is left running.
    """
    server = bind_sp(flaw, idp_metadata_url, 0, allow_unsolicited)
    thread = threading.Thread(target=server.serve_forever, name=f"minisp-{flaw}", daemon=True)
    thread.start()
    try:
        yield base_url_of(server)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
