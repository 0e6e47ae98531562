"""The LMS's keep-alive back channel to an OpenID provider, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from simulator.lms.sso.backchannel import MAX_BODY_BYTES, BackChannel, BackChannelError


class _Provider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.close_after_answer = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler says otherwise
    server: _Provider

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.server.close_after_answer:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        if self.path == "/reset":
            self.close_connection = True  # no answer at all
            return
        if self.path == "/big":
            self._answer(200, b"x" * (MAX_BODY_BYTES + 10))
            return
        self._answer(200, json.dumps({"sub": "M1"}).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.server.requests.append(
            {"path": self.path, "type": self.headers.get("Content-Type"), "form": parse_qs(body)}
        )
        self._answer(200, json.dumps({"access_token": "t"}).encode())


@pytest.fixture
def provider() -> Iterator[_Provider]:
    server = _Provider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_calls_reuse_one_connection_and_send_the_form(provider: _Provider) -> None:
    channel = BackChannel()
    try:
        token = channel.request("POST", f"{provider.url}/token", form={"code": "a b", "grant_type": "x"})
        info = channel.request("GET", f"{provider.url}/userinfo", headers={"Authorization": "Bearer t"})
        again = channel.request("GET", f"{provider.url}/userinfo?x=1")
    finally:
        channel.close()
    assert token.status == 200 and token.json() == {"access_token": "t"}
    assert info.json() == {"sub": "M1"}
    assert again.status == 200
    assert provider.connections == 1
    assert provider.requests[0]["form"] == {"code": ["a b"], "grant_type": ["x"]}
    assert provider.requests[0]["type"] == "application/x-www-form-urlencoded"
    assert provider.requests[1]["authorization"] == "Bearer t"
    assert provider.requests[2]["path"] == "/userinfo?x=1"


def test_a_connection_the_server_closed_is_not_reused(provider: _Provider) -> None:
    channel = BackChannel()
    provider.close_after_answer = True
    try:
        first = channel.request("GET", f"{provider.url}/userinfo")
        second = channel.request("GET", f"{provider.url}/userinfo")
    finally:
        channel.close()
    assert first.status == second.status == 200
    assert provider.connections == 2


def test_a_reset_is_an_error_and_is_not_retried(provider: _Provider) -> None:
    channel = BackChannel()
    try:
        with pytest.raises(BackChannelError):
            channel.request("GET", f"{provider.url}/reset")
        assert channel.request("GET", f"{provider.url}/userinfo").status == 200  # a fresh connection
    finally:
        channel.close()
    assert [request["path"] for request in provider.requests] == ["/reset", "/userinfo"]


def test_nothing_listening_and_oversized_bodies_are_errors(provider: _Provider) -> None:
    channel = BackChannel(timeout=2.0)
    try:
        with pytest.raises(BackChannelError, match="larger than"):
            channel.request("GET", f"{provider.url}/big")
        with pytest.raises(BackChannelError):
            channel.request("GET", "http://127.0.0.1:9/token")  # the discard port: nobody listens
        for bad in ("ftp://127.0.0.1/token", "http://127.0.0.1:port/token", "http:///token"):
            with pytest.raises(BackChannelError, match="not an http"):
                channel.request("GET", bad)
    finally:
        channel.close()
