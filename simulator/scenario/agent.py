"""A browser-like user agent on httpx: one per actor, with its own cookies.

It follows redirects, fills the AMS login form with the actor's email and password, and submits the
auto-posting forms of the SAML HTTP-POST binding (what the page's ``onload`` or inline script would do:
any form carrying ``SAMLRequest`` or ``SAMLResponse`` counts), until it lands on a page that is neither.
It never calls into the apps: everything is HTTP, as a browser does it.

Example::

    with UserAgent("alex") as browser:
        landed = browser.sign_in(lms_login_url, "active.member@demo.test", "demo")
        landed.status  # 200, on /t/{t}/me
"""

from __future__ import annotations

import html
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from simulator.core.tls import client_verify

log = logging.getLogger(__name__)

MAX_FORM_HOPS = 8
SAML_MESSAGE_FIELDS = frozenset({"SAMLRequest", "SAMLResponse"})
"""A form carrying one of these is a SAML HTTP-POST binding page, submitted however it auto-submits."""


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    auto_submit: bool = False


class _FormParser(HTMLParser):
    """Collects forms with their named inputs, and notices ``onload`` auto-submission."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.auto_submit = False
        self.code: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "body" and "submit()" in values.get("onload", ""):
            self.auto_submit = True
        elif tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "code" and values.get("id") == "code":
            self._in_code = True

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.code = (self.code or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False


def parse_page(text: str) -> tuple[list[Form], str | None]:
    """The forms of a page (the first marked auto-submitting when the page says so) and its error code."""
    parser = _FormParser()
    parser.feed(text)
    if parser.auto_submit and parser.forms:
        parser.forms[0].auto_submit = True
    for form in parser.forms:
        if SAML_MESSAGE_FIELDS & form.fields.keys():
            form.auto_submit = True  # what the page's script (or a person pressing Continue) does
    return parser.forms, parser.code


@dataclass
class Landing:
    """Where a browser journey ended.

    ``submitted`` lists the forms the browser submitted on the way (actions made absolute), and
    ``held`` the auto-posting form it was told to hold back (see :meth:`UserAgent.journey`).
    """

    status: int
    url: str
    body: Any
    code: str | None = None
    hops: list[str] = field(default_factory=list)
    submitted: list[Form] = field(default_factory=list)
    held: Form | None = None

    @property
    def is_json(self) -> bool:
        return isinstance(self.body, dict)


class UserAgent:
    """One actor's browser: cookies kept across steps, redirects followed, forms submitted; https://
    verified with ``verify`` (default :func:`client_verify`), never unverified."""

    def __init__(self, actor: str, timeout: float = 30.0, verify: ssl.SSLContext | None = None) -> None:
        self.actor = actor
        self.http = httpx.Client(
            follow_redirects=True,
            timeout=timeout,
            headers={"User-Agent": "sandbox-scenario"},
            verify=verify or client_verify(),
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UserAgent:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def journey(
        self,
        url: str,
        email: str | None = None,
        password: str | None = None,
        hold: Callable[[Form], bool] | None = None,
    ) -> Landing:
        """GET ``url`` and go on as a person would: sign in when asked, let auto-posting forms post.

        An auto-posting form for which ``hold`` answers true is not submitted: the journey ends on its
        page with the form in :attr:`Landing.held` (a conformance suite takes the IdP's SAML response
        there, to post its own variant instead).
        """
        response = self.http.get(url)
        hops = [str(u.url) for u in response.history] + [str(response.url)]
        submitted: list[Form] = []
        for _ in range(MAX_FORM_HOPS):
            forms, code = parse_page(response.text) if _is_html(response) else ([], None)
            login = next((f for f in forms if "password" in f.fields and "email" in f.fields), None)
            posting = next((f for f in forms if f.auto_submit), None)
            if login is not None and email is not None and response.status_code == 200:
                login.fields.update({"email": email, "password": password or ""})
                response = self._submit(response, login, submitted)
                email = None  # a second login form means the credentials were refused
            elif posting is not None:
                if hold is not None and hold(posting):
                    posting.action = str(_action_url(response, posting))
                    return self._landing(response, hops, code, submitted, posting)
                response = self._submit(response, posting, submitted)
            else:
                return self._landing(response, hops, code, submitted)
            hops += [str(u.url) for u in response.history] + [str(response.url)]
        forms, code = parse_page(response.text) if _is_html(response) else ([], None)
        return self._landing(response, hops, code, submitted)

    def _submit(self, page: httpx.Response, form: Form, submitted: list[Form]) -> httpx.Response:
        target = _action_url(page, form)
        log.debug("%s submits a form to %s", self.actor, target)
        submitted.append(Form(str(target), form.method, dict(form.fields), form.auto_submit))
        if form.method == "post":
            return self.http.post(target, data=form.fields)
        return self.http.get(target, params=form.fields)

    def _landing(
        self,
        response: httpx.Response,
        hops: list[str],
        code: str | None,
        submitted: list[Form],
        held: Form | None = None,
    ) -> Landing:
        body: Any = response.text
        if response.headers.get("content-type", "").split(";")[0].endswith("json"):
            try:
                body = response.json()
            except json.JSONDecodeError:
                body = response.text
        if isinstance(body, dict) and code is None:
            code = body.get("code")
        return Landing(response.status_code, str(response.url), body, code, hops, submitted, held)

    def get_json(self, url: str) -> tuple[int, Any]:
        """GET ``url`` with this browser's cookies; (status, JSON body or None)."""
        response = self.http.get(url)
        try:
            return response.status_code, response.json()
        except json.JSONDecodeError:
            return response.status_code, None


def _action_url(page: httpx.Response, form: Form) -> httpx.URL:
    return httpx.URL(str(page.url)).join(html.unescape(form.action) or str(page.url))


def _is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "")
