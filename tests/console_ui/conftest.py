"""Console UI tests over Flask's test client: a browser-like session that signs in and posts forms with
the page's CSRF token (the real-browser tests are in tests/browser/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class UiSession:
    """A signed-in console session: ``page(path)`` reads a page, ``submit(path, **fields)`` posts a form."""

    client: Any
    csrf: str = ""

    def sign_in(self, key: str) -> Any:
        token = CSRF.search(self.client.get("/sign-in").text)
        assert token, "the sign-in page has no CSRF token"
        response = self.client.post("/sign-in", data={"key": key, "csrf_token": token.group(1)})
        self.refresh_csrf()
        return response

    def refresh_csrf(self) -> None:
        token = CSRF.search(self.client.get("/scenario-runs").text)  # every signed-in page has one
        self.csrf = token.group(1) if token else ""

    def page(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def submit(self, path: str, **fields: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **fields})


@pytest.fixture
def ui(console: Any) -> UiSession:
    """A console session signed in with the admin key."""
    session = UiSession(console)
    response = session.sign_in(ADMIN_KEY)
    assert response.status_code == 303
    return session


@pytest.fixture
def ui_as(console: Any) -> Any:
    """``ui_as(key)``: a fresh console session signed in with ``key`` (each has its own cookie jar)."""
    from flask.testing import FlaskClient

    def make(key: str) -> UiSession:
        client = FlaskClient(console.application, use_cookies=True)
        session = UiSession(client)
        assert session.sign_in(key).status_code == 303
        return session

    return make


def text_of(html: str) -> str:
    """The visible text of a page, whitespace collapsed (what a person reads)."""
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", html, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())
