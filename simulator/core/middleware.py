"""WSGI middleware every AMS and LMS request passes through: the journal outermost, then faults.

Only requests whose path starts with ``/t/{tenant}`` are touched; ``/healthz``, ``/docs`` and the like
pass straight through. :class:`JournalMiddleware` reads the tenant once per request
(:func:`simulator.core.tenancy.load_tenant`: the row, its parsed settings and its number of fault rules)
and leaves it in ``environ['sandbox.tenant']`` for the fault middleware and the views
(:func:`request_tenant`); requests to a tenant that does not exist are neither journaled nor faulted.
:class:`FaultMiddleware` applies the tenant's fault rules (:mod:`simulator.core.faults`) — no query at
all when it has none — and describes the fault that fired in ``environ['sandbox.fault']``;
:class:`JournalMiddleware` buffers the request and response and writes one journal row
(:mod:`simulator.core.journal`) — a failure to write is logged, never raised.

Example::

    install_request_middleware(app, "ams")   # in the app factory, after the blueprints
"""

from __future__ import annotations

import io
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from simulator.config import SandboxConfig
from simulator.core.clock import tenant_now, wall_now
from simulator.core.db import Database
from simulator.core.faults import ConnectionResetFault, FiredFault, decide_fault
from simulator.core.journal import JournalRecord, record_request
from simulator.core.request_limits import body_limit
from simulator.core.secrets_at_rest import SecretKeyError
from simulator.core.tenancy import TENANT_ID_PATTERN, TenantSnapshot, load_tenant

log = logging.getLogger(__name__)

FAULT_ENVIRON_KEY = "sandbox.fault"
TENANT_ENVIRON_KEY = "sandbox.tenant"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def split_tenant_path(path_info: str) -> tuple[str, str] | None:
    """``/t/acme/api/members`` → ``("acme", "/api/members")``; ``None`` for paths without a tenant."""
    if not path_info.startswith("/t/"):
        return None
    tenant_id, slash, rest = path_info[3:].partition("/")
    if not TENANT_ID_PATTERN.match(tenant_id):
        return None
    return tenant_id, slash + rest if slash else "/"


def request_tenant(environ: dict[str, Any], db: Database, tenant_id: str) -> TenantSnapshot | None:
    """The tenant of this request: as the middleware read it, else read now (``None``: no such tenant)."""
    snapshot = environ.get(TENANT_ENVIRON_KEY)
    if snapshot is not None and snapshot.tenant.id == tenant_id:
        return snapshot
    return load_tenant(db, tenant_id)


def reset_connection(sock: socket.socket) -> None:
    """Abort the TCP connection under ``sock`` so the client sees a reset (RST), not a response.

    ``SO_LINGER`` (on, 0 s) makes the close send RST. The server still owns its file descriptor, so
    instead of closing it under the server's feet, the descriptor is pointed (``dup2``) at a socket whose
    peer is already gone: the TCP connection loses its last reference and resets, and the server's
    later reads see end-of-file and its writes a broken pipe, which it handles quietly.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    orphan, peer = socket.socketpair()
    peer.close()
    try:
        os.dup2(orphan.fileno(), sock.fileno())
    finally:
        orphan.close()


class FaultMiddleware:
    """Applies the tenant's fault rules to AMS/LMS requests (spec: faults, item 9)."""

    def __init__(self, app: WSGIApp, app_name: str, db: Database) -> None:
        self.app = app
        self.app_name = app_name
        self.db = db

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = split_tenant_path(environ.get("PATH_INFO", ""))
        if target is None:
            return self.app(environ, start_response)
        tenant_id, path = target
        if TENANT_ENVIRON_KEY in environ:
            snapshot = environ[TENANT_ENVIRON_KEY]
            if snapshot is None or snapshot.fault_rule_count == 0:
                return self.app(environ, start_response)
        snapshot = environ.get(TENANT_ENVIRON_KEY)
        business_now = (lambda: tenant_now(snapshot.tenant)) if snapshot is not None else None
        try:
            fault = decide_fault(
                self.db, tenant_id, self.app_name, environ.get("REQUEST_METHOD", "GET"), path, business_now
            )
        except SQLAlchemyError:
            log.exception("fault rules of tenant %s could not be read; request passes unfaulted", tenant_id)
            fault = None
        if fault is None:
            return self.app(environ, start_response)
        environ[FAULT_ENVIRON_KEY] = fault.describe()
        if fault.delay_ms > 0:
            time.sleep(fault.delay_ms / 1000.0)
        if fault.kind is None:
            return self.app(environ, start_response)
        if fault.kind == "connection_reset":
            self._reset(environ, fault)
        status, headers, body = fault.response_parts()
        response = Response(body, status=status, headers=headers)
        return response(environ, start_response)

    @staticmethod
    def _reset(environ: dict[str, Any], fault: FiredFault) -> None:
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            try:
                reset_connection(sock)
            except OSError:
                log.warning("could not reset the connection for fault rule %s", fault.rule_id, exc_info=True)
        raise ConnectionResetFault(fault.rule_id)


class JournalMiddleware:
    """Records every tenant request and its response in the request journal (spec: journal, item 10)."""

    def __init__(self, app: WSGIApp, app_name: str, db: Database, config: SandboxConfig) -> None:
        self.app = app
        self.app_name = app_name
        self.db = db
        self.body_limit = config.journal_body_limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = split_tenant_path(environ.get("PATH_INFO", ""))
        if target is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            snapshot = load_tenant(self.db, target[0])
        except SQLAlchemyError:
            log.exception("tenant %s could not be read; its request is not journaled", target[0])
            return self.app(environ, start_response)
        except SecretKeyError as exc:  # the app answers with this problem; nothing can be journaled
            log.error("tenant %s could not be read: %s", target[0], exc.message)
            return self.app(environ, start_response)
        environ[TENANT_ENVIRON_KEY] = snapshot
        if snapshot is None:
            return self.app(environ, start_response)
        limit = body_limit(environ.get("PATH_INFO", "")).max_bytes
        record = JournalRecord(
            at=wall_now(),
            app=self.app_name,
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", ""),
            query=environ.get("QUERY_STRING", ""),
            request_headers=_request_headers(environ),
            request_body=_buffer_request_body(environ, limit),
            request_content_type=environ.get("CONTENT_TYPE"),
            remote_addr=environ.get("REMOTE_ADDR"),
        )

        def capture_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            record.status = int(status.split(" ", 1)[0])
            record.response_headers = list(headers)
            return start_response(status, headers, exc_info)

        try:
            iterable = self.app(environ, capture_start_response)
            try:
                body = b"".join(iterable)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except Exception:
            record.status = None
            self._write(snapshot, record, environ, started)
            raise
        record.response_body = body
        self._write(snapshot, record, environ, started)
        return [body]

    def _write(
        self, snapshot: TenantSnapshot, record: JournalRecord, environ: dict[str, Any], started: float
    ) -> None:
        record.latency_ms = (time.perf_counter() - started) * 1000.0
        record.fault = environ.get(FAULT_ENVIRON_KEY)
        tenant_id = snapshot.tenant.id
        try:
            record_request(self.db, tenant_id, record, self.body_limit, snapshot.settings.journal.max_entries)
        except Exception:  # the journal must never break a request
            log.exception("could not journal %s %s for tenant %s", record.method, record.path, tenant_id)


def _request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").title(), str(value)))
    return headers


def _buffer_request_body(environ: dict[str, Any], limit: int) -> bytes:
    """Read the request body and put it back as a fresh stream for the app.

    ``limit`` is the endpoint's body limit (:mod:`simulator.core.request_limits`): a larger body passes on
    unread, and of a chunked one at most one byte more is read, so the app still sees it is too large.
    A chunked stream may answer a read with less than asked for (werkzeug's server: one chunk), so it is
    read until it ends or the limit is passed.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if 0 < length <= limit:
        body = _read_at_most(stream, length)
    elif length == 0 and environ.get("wsgi.input_terminated"):
        body = _read_at_most(stream, limit + 1)
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``: fewer only when it ends first."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def install_request_middleware(app: Flask, app_name: str) -> None:
    """Wrap ``app`` so every tenant request is journaled and subject to the tenant's fault rules."""
    state = app.extensions["sandbox"]
    faulted = FaultMiddleware(app.wsgi_app, app_name, state.db)
    app.wsgi_app = JournalMiddleware(faulted, app_name, state.db, state.config)  # type: ignore[method-assign]
