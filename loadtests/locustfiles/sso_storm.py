"""``sso-storm``: people signing in to the LMS through the AMS login form, each time in a fresh browser.

Each user is a browser with keep-alive connections to the LMS and the AMS. A sign-in clears its cookies,
picks a member of the prepared pool and walks the journey of the scenario user agent
(:mod:`simulator.scenario.agent`), following every redirect itself so that each step is its own entry in
the statistics, named by app, method and path:

- SAML: ``LMS GET /login`` → ``AMS GET /saml/sso`` (the login form, served in place) → ``AMS POST /login``
  (answered with the auto-posting SAML response) → ``LMS POST /saml/acs`` → ``LMS GET /me (probe)``;
- OIDC: ``LMS GET /login`` → ``AMS GET /oidc/authorize`` (the login form) → ``AMS POST /login``
  (answered with the redirect to the callback) → ``LMS GET /oidc/callback`` (which redeems the code at the
  AMS) → ``LMS GET /me (probe)``.

The form is filled with the member's email and the seeded password (from the plan); pages are read with
the agent's own form parser (:func:`simulator.scenario.agent.parse_page`).

Every sign-in is noted in the ledger (kind ``sign_ins``, a uuid per attempt) before its first request,
with ``member_id``, ``email``, ``protocol`` and ``outcome: unconfirmed``; then ``step`` (the last request
made), ``status`` and ``code`` (an error page's reference code), and the outcome: ``signed_in`` (the probe
answered the member's own learner record), ``wrong_identity`` (it named someone else: ``seen_member_id``,
``seen_email``), ``refused`` (a 4xx page, such as the login form again or an error page) or ``failed``
(an error status, no answer, or a page the journey did not expect). A signed-in attempt also notes what the
probe said of the learner (``learner_status``, ``learner_type``, ``learner_access``).

Options: ``protocol`` (``saml`` or ``oidc``, default ``saml``; ``prepare`` sets the tenant's
``sso.protocol`` to it).
"""

from __future__ import annotations

import html
import json
import random
import uuid
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from locust import task

from loadtests.locustfiles.support import RETRY_STATUSES, SandboxUser, ledger, plan_of
from loadtests.plan import part_data
from simulator.scenario.agent import Form, parse_page

MAX_REQUESTS_PER_SIGN_IN = 12
REDIRECTS = frozenset({301, 302, 303, 307, 308})
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser(SandboxUser):
    """A person signing in to the LMS, again and again, each time with a fresh browser."""

    weight = 1

    def on_start(self) -> None:
        plan = plan_of(self.environment)
        data = part_data(plan, "sso-storm")
        self.members: list[dict[str, Any]] = data["members"]
        self.protocol: str = data["protocol"]
        self.password: str = data["password"]
        self.prefix = f"/t/{plan.tenant}"
        self.start_url = f"{plan.lms_base}/login?{urlencode({'return_to': f'{self.prefix}/me'})}"
        self.apps = {urlsplit(plan.ams_url).netloc: "AMS", urlsplit(plan.lms_url).netloc: "LMS"}

    @task
    def sign_in(self) -> None:
        member = random.choice(self.members)
        attempt = uuid.uuid4().hex
        ledger.note(
            "sign_ins",
            attempt,
            member_id=member["member_id"],
            email=member["email"],
            protocol=self.protocol,
            outcome="unconfirmed",
            step="",
        )
        self.client.cookiejar.clear()
        ledger.note("sign_ins", attempt, **self._journey(member))

    def _step_name(self, method: str, url: str) -> str:
        parts = urlsplit(url)
        path = parts.path.removeprefix(self.prefix) or "/"
        name = f"{self.apps.get(parts.netloc, parts.netloc)} {method} {path}"
        return f"{name} (probe)" if path == "/me" else name

    def _journey(self, member: dict[str, Any]) -> dict[str, Any]:
        """Go from the LMS's /login to its /me probe as a browser does; the facts for the ledger."""
        method, url, form = "GET", self.start_url, None
        credentials_sent = False
        for _ in range(MAX_REQUESTS_PER_SIGN_IN):
            step = self._step_name(method, url)
            body = urlencode(form) if form is not None else None
            headers = FORM_TYPE if form is not None else None
            with self.client.request(
                method, url, data=body, headers=headers, name=step, allow_redirects=False, catch_response=True
            ) as r:
                status = r.status_code
                location = r.headers.get("location") if r.headers else None
                if status in REDIRECTS and location:
                    r.success()
                    url = urljoin(url, location)
                    if status in (301, 302, 303):
                        method, form = "GET", None
                    continue
                if step.endswith("(probe)"):
                    return _judge_probe(r, member, step)
                forms, code = parse_page(r.text or "") if _is_html(r) else ([], None)
                login = next((f for f in forms if {"email", "password"} <= f.fields.keys()), None)
                posting = next((f for f in forms if f.auto_submit), None)
                if status != 200:
                    return _judge_stop(r, step, code)
                if login is not None and not credentials_sent:
                    login.fields.update({"email": member["email"], "password": self.password})
                    method, url, form = _submission(url, login)
                    credentials_sent = True
                    r.success()
                    continue
                if posting is not None and login is None:
                    method, url, form = _submission(url, posting)
                    r.success()
                    continue
                return _judge_stop(r, step, code)
        return {"outcome": "failed", "step": step, "reason": "too many requests for one sign-in"}


def _submission(page_url: str, form: Form) -> tuple[str, str, dict[str, str] | None]:
    """How a browser submits ``form`` of the page at ``page_url``: method, absolute URL, form body."""
    action = urljoin(page_url, html.unescape(form.action) or page_url)
    if form.method == "post":
        return "POST", action, dict(form.fields)
    return "GET", f"{action.split('?', 1)[0]}?{urlencode(form.fields)}", None


def _judge_probe(response: Any, member: dict[str, Any], step: str) -> dict[str, Any]:
    """The sign-in's outcome from the probe's answer: the learner it names, or why it names nobody."""
    status = response.status_code
    document = _json(response)
    if status != 200 or not isinstance(document, dict):
        response.failure(f"the probe answered {status}")
        code = document.get("code") if isinstance(document, dict) else None
        return {"outcome": "failed", "step": step, "status": status, "code": code}
    seen_id, seen_email = document.get("member_id"), str(document.get("email") or "")
    if seen_id != member["member_id"] or seen_email.lower() != member["email"].lower():
        response.failure(f"signed in as {seen_id} <{seen_email}>, not {member['member_id']}")
        return {
            "outcome": "wrong_identity",
            "step": step,
            "status": status,
            "seen_member_id": seen_id,
            "seen_email": seen_email,
        }
    response.success()
    return {
        "outcome": "signed_in",
        "step": step,
        "status": status,
        "learner_status": document.get("member_status"),
        "learner_type": document.get("member_type"),
        "learner_access": document.get("access"),
    }


def _judge_stop(response: Any, step: str, code: str | None) -> dict[str, Any]:
    """The outcome of a journey that stopped before the probe: refused (a 4xx page) or failed."""
    status = response.status_code
    if code is None and not _is_html(response):
        document = _json(response)
        code = document.get("code") if isinstance(document, dict) else None
    refused = 400 <= status < 500 and status not in RETRY_STATUSES
    response.failure(f"{'refused' if refused else 'stopped'} with {status}" + (f" {code}" if code else ""))
    return {"outcome": "refused" if refused else "failed", "step": step, "status": status, "code": code}


def _is_html(response: Any) -> bool:
    return "html" in ((response.headers or {}).get("content-type") or "")


def _json(response: Any) -> Any:
    try:
        return json.loads(response.text or "null")
    except (ValueError, TypeError):
        return None
