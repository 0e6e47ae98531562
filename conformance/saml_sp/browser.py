"""One check's browser: sign on through the SP and the sandbox IdP, post to the ACS, ask the probe.

A fresh cookie jar per check (a :class:`~simulator.scenario.agent.UserAgent`, the scenarios' own). The
browser GETs the SP's login URL, follows it to the sandbox AMS, signs in as the test member and stops
at the page that would auto-post the IdP's genuine response: the check then posts that response, or its
own variant, to the ACS with the RelayState the SP sent, and asks the probe who is signed in.

Example::

    sign_on = start_sign_on(world, world.member)
    posted = post_response(world, sign_on.agent, sign_on.acs_url, encode(root), sign_on.relay_state)
    seen = probe(world, sign_on.agent)   # seen.signed_in_as == ["member"]
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from lxml import etree

from conformance.harness.checks import NotJudged, Sent
from conformance.harness.identity import shows_identity
from conformance.harness.xmldiff import message_change
from conformance.saml_sp import messages
from simulator.core.http_failures import http_failure
from simulator.core.tls import client_verify
from simulator.scenario.agent import Form, UserAgent

if TYPE_CHECKING:
    from conformance.saml_sp.world import TestMember, World

BODY_EXCERPT_CHARS = 300


@dataclass
class AuthnRequestSeen:
    """An AuthnRequest the SP sent the IdP, as the browser carried it (SAML bindings 2.0 §3.4, §3.5)."""

    binding: str
    url: str
    xml: bytes
    relay_state: str | None
    signature: str | None = None
    signature_algorithm: str | None = None

    @property
    def root(self) -> etree._Element:
        return messages.parse(self.xml)


@dataclass
class SignOn:
    """A sign-on stopped just before the IdP's response reached the SP."""

    agent: UserAgent
    member: TestMember
    acs_url: str
    relay_state: str | None
    saml_response: str
    xml: bytes
    made_at: dt.datetime
    request: AuthnRequestSeen | None = None

    @property
    def root(self) -> etree._Element:
        return messages.parse(self.xml)

    @property
    def in_response_to(self) -> str | None:
        return self.root.get("InResponseTo")


@dataclass
class Posted:
    """The SP's answer to a posted response (``status`` None: no answer in time, or the connection broke)."""

    status: int | None
    elapsed_ms: float
    url: str
    body: str = ""
    error: str | None = None
    timed_out: bool = False

    def observed(self) -> dict[str, object]:
        return {
            "acs_status": self.status,
            "acs_ms": round(self.elapsed_ms, 1),
            "acs_landed_at": self.url,
            "acs_error": self.error,
        }


@dataclass
class Probed:
    status: int | None
    signed_in_as: list[str] = field(default_factory=list)
    body: str = ""

    def observed(self) -> dict[str, object]:
        return {
            "probe_status": self.status,
            "signed_in_as": self.signed_in_as,
            "probe_body": self.body[:BODY_EXCERPT_CHARS],
        }


def new_agent(world: World, label: str) -> UserAgent:
    agent = UserAgent(label, timeout=world.target.timeout_seconds)
    world.agents.append(agent)
    return agent


def _is_saml_response(form: Form) -> bool:
    return "SAMLResponse" in form.fields


def _inflate(value: str) -> bytes:
    data = base64.b64decode(value)
    try:
        return zlib.decompress(data, -15)
    except zlib.error:
        return data


def requests_seen(world: World, hops: list[str], submitted: list[Form]) -> list[AuthnRequestSeen]:
    """The AuthnRequests that went to the IdP's SSO URL on this journey (Redirect or POST binding); a
    request the browser carried twice (back to the SSO URL after the login form) counts once."""
    found: list[AuthnRequestSeen] = []
    sso_path = urlsplit(world.idp_sso_url).path
    for hop in hops:
        parts = urlsplit(hop)
        query = parse_qs(parts.query)
        if parts.path == sso_path and "SAMLRequest" in query:
            found.append(
                AuthnRequestSeen(
                    messages.REDIRECT_BINDING,
                    hop,
                    _inflate(query["SAMLRequest"][0]),
                    query.get("RelayState", [None])[0],
                    query.get("Signature", [None])[0],
                    query.get("SigAlg", [None])[0],
                )
            )
    for form in submitted:
        if urlsplit(form.action).path == sso_path and "SAMLRequest" in form.fields:
            xml = base64.b64decode(form.fields["SAMLRequest"])
            found.append(
                AuthnRequestSeen(messages.POST_BINDING, form.action, xml, form.fields.get("RelayState"))
            )
    unique: dict[bytes, AuthnRequestSeen] = {}
    for request in found:
        unique.setdefault(request.xml, request)
    return list(unique.values())


def _sign_on(world: World, agent: UserAgent, member: TestMember, url: str) -> SignOn:
    try:
        landing = agent.journey(url, member.email, member.password, hold=_is_saml_response)
    except httpx.HTTPError as exc:
        raise NotJudged(f"The sign-on broke off: {http_failure(exc)}.") from exc
    seen = requests_seen(world, landing.hops, landing.submitted)
    world.requests.extend(seen)
    if landing.held is None:
        where = f"{landing.status} at {landing.url}" + (f" ({landing.code})" if landing.code else "")
        raise NotJudged(f"The sign-on never reached the IdP's response to the SP: it ended with {where}.")
    response = landing.held.fields["SAMLResponse"]
    return SignOn(
        agent=agent,
        member=member,
        acs_url=landing.held.action,
        relay_state=landing.held.fields.get("RelayState"),
        saml_response=response,
        xml=base64.b64decode(response),
        made_at=dt.datetime.now(dt.UTC),
        request=seen[-1] if seen else None,
    )


def start_sign_on(world: World, member: TestMember) -> SignOn:
    """SP-initiated: GET the SP's login URL in a fresh browser and sign in at the sandbox IdP."""
    return _sign_on(world, new_agent(world, member.role), member, world.target.sp.login_url)


def start_idp_initiated(world: World, member: TestMember) -> SignOn:
    """IdP-initiated (SAML profiles 2.0 §4.1.5): the sandbox IdP's unsolicited-response URL for the SP."""
    url = f"{world.idp_base}/idp-initiated?sp={quote(world.sp.entity_id, safe='')}"
    if world.target.sp.relay_state:
        url += f"&RelayState={quote(world.target.sp.relay_state, safe='')}"
    return _sign_on(world, new_agent(world, member.role), member, url)


def authn_requests(world: World, minimum: int) -> list[AuthnRequestSeen]:
    """The AuthnRequests seen so far in the run, topped up to ``minimum`` by starting logins (each in a
    fresh browser, stopping at the IdP's login form)."""
    attempts = 0
    while len(world.requests) < minimum and attempts < minimum:
        attempts += 1
        agent = new_agent(world, "request")
        try:
            landing = agent.journey(world.target.sp.login_url)
        except httpx.HTTPError:
            continue
        world.requests.extend(requests_seen(world, landing.hops, landing.submitted))
    return list(world.requests)


def post_response(
    world: World, agent: UserAgent, acs_url: str, saml_response: str, relay_state: str | None
) -> Posted:
    """POST a response to the ACS as the HTTP-POST binding does (SAML bindings 2.0 §3.5.4), then follow
    the SP's redirects as a browser would."""
    fields = {"SAMLResponse": saml_response}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    started = time.perf_counter()
    try:
        response = agent.http.post(acs_url, data=fields, timeout=world.target.timeout_seconds)
    except httpx.TimeoutException:
        elapsed = (time.perf_counter() - started) * 1000
        limit = world.target.timeout_seconds
        return Posted(None, elapsed, acs_url, error=f"no answer within {limit:g} s", timed_out=True)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Posted(None, elapsed, acs_url, error=http_failure(exc))
    elapsed = (time.perf_counter() - started) * 1000
    return Posted(response.status_code, elapsed, str(response.url), response.text)


def probe(world: World, agent: UserAgent) -> Probed:
    """Ask the probe who is signed in: which of the run's test members it shows (whole values only)."""
    settings = world.target.probe
    try:
        response = agent.http.get(settings.url, follow_redirects=settings.follow_redirects)
    except httpx.HTTPError as exc:
        return Probed(None, body=http_failure(exc))
    who = []
    if response.status_code == settings.signed_in.status:
        who = [
            person.role
            for person in world.people
            if shows_identity(response.text, settings.signed_in.templates, person.identity)
        ]
    return Probed(response.status_code, who, response.text)


def liveness(world: World) -> tuple[bool, str]:
    """Is the SP still up? Its login URL answers, without a server error, in time."""
    try:
        response = httpx.get(
            world.target.sp.login_url, timeout=world.target.timeout_seconds, verify=client_verify()
        )
    except httpx.HTTPError as exc:
        return False, f"its login URL did not answer afterwards ({http_failure(exc)})"
    if response.status_code >= 500:
        return False, f"its login URL answered {response.status_code} afterwards"
    return True, "its login URL still answers"


def describe_sent(sign_on: SignOn, xml: bytes, description: str) -> Sent:
    """What a check sent instead of ``sign_on``'s genuine response, with the change highlighted."""
    return message_change(sign_on.xml, xml, sign_on.made_at, dt.datetime.now(dt.UTC), description)
