"""One saml-sp run's world: the SP under test, the sandbox IdP tenant it trusts, and the test members.

Opening a world leaves the tenant's keys and entityID alone (the SP was configured with its metadata
once): it creates the tenant if it does not exist yet, registers the SP from the metadata the SP
publishes, and creates two members of its own — ``member``, who signs in (and plays the attacker in the
impersonation checks), and ``victim``, whose identity forged messages claim. The member's email is the
victim's with ``.evil.test`` appended, as the comment-injection attack needs. Closing the world deletes
the members and puts the SP's earlier registration back (or removes it), unless asked to keep them.

Example::

    with open_world(loaded_target, sandbox_client, keep=False) as world:
        world.calibrate()
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from conformance.harness.checks import NotJudged, Verdict
from conformance.harness.runner import TargetUnusable
from conformance.harness.target import LoadedTarget
from conformance.saml_sp.browser import AuthnRequestSeen, SignOn
from conformance.saml_sp.metadata import MetadataUnusable, SpMetadata, parse_sp_metadata
from conformance.saml_sp.target import SamlSpTarget
from simulator.core.certificates import self_signed_rsa
from simulator.core.http_failures import http_failure
from simulator.core.tls import client_verify
from simulator.scenario.agent import UserAgent
from simulator.scenario.client import ApiError, SandboxClient, TenantClient

log = logging.getLogger(__name__)

METADATA_BYTES_LIMIT = 1_000_000


@dataclass
class TestMember:
    """A member the run created at the sandbox IdP."""

    __test__ = False

    role: str
    member_id: str
    email: str
    given_name: str
    family_name: str
    password: str
    member_type: str = "regular"
    member_status: str = "active"

    @property
    def identity(self) -> dict[str, str]:
        """The values a probe may show, by the names target files use as placeholders."""
        return {
            "member_id": self.member_id,
            "email": self.email,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "name": f"{self.given_name} {self.family_name}",
            "member_type": self.member_type,
            "member_status": self.member_status,
        }

    def fields(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "email": self.email,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "password": self.password,
            "record_type": "member",
            "member_type": self.member_type,
            "status": self.member_status,
        }


def test_members(run_id: str) -> tuple[TestMember, TestMember]:
    """(member, victim) for one run; neither's values are prefixes of the other's but for the email."""
    victim_email = f"cert-{run_id}@victim.test"
    member = TestMember(
        "member",
        f"CERT-{run_id}-M",
        f"{victim_email}.evil.test",
        "Casey",
        f"Probe{run_id}",
        secrets.token_urlsafe(12),
    )
    victim = TestMember(
        "victim", f"CERT-{run_id}-V", victim_email, "Vivian", f"Target{run_id}", secrets.token_urlsafe(12)
    )
    return member, victim


@dataclass
class World:
    target: SamlSpTarget
    sandbox: SandboxClient
    sp: SpMetadata
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    registration_error: str | None = None
    agents: list[UserAgent] = field(default_factory=list)
    requests: list[AuthnRequestSeen] = field(default_factory=list)
    baseline: Verdict | None = None
    baseline_sign_on: SignOn | None = None
    baseline_body: str = ""

    def __post_init__(self) -> None:
        self.member, self.victim = test_members(self.run_id)
        self.people = [self.member, self.victim]

    @property
    def tenant_id(self) -> str:
        return self.target.idp.tenant

    @cached_property
    def tenant(self) -> TenantClient:
        return self.sandbox.tenant(self.tenant_id)

    @property
    def idp_base(self) -> str:
        return f"{self.sandbox.ams_url}/t/{self.tenant_id}/saml"

    @property
    def idp_metadata_url(self) -> str:
        """The IdP's metadata URL, which is also its entityID."""
        return f"{self.idp_base}/metadata"

    @property
    def idp_sso_url(self) -> str:
        return f"{self.idp_base}/sso"

    @property
    def baseline_ok(self) -> bool:
        return self.baseline is not None and self.baseline.passed

    @cached_property
    def attacker(self) -> tuple[str, str]:
        """(private key PEM, certificate PEM) of a key the SP has never been told to trust."""
        _, key_pem, certificate_pem = self_signed_rsa(f"{self.idp_metadata_url} (attacker)")
        return key_pem, certificate_pem

    def mint(self, sign_on: SignOn, member: TestMember | None = None, **overrides: Any) -> bytes:
        """A response the sandbox IdP signs with the tenant's real key, answering ``sign_on``'s request,
        for ``member`` (default: the sign-on's), changed by ``overrides`` (see the minting API)."""
        request = {
            "sp": self.sp.entity_id,
            "member_id": (member or sign_on.member).member_id,
            "in_response_to": sign_on.in_response_to,
            "acs_url": sign_on.acs_url,
        }
        try:
            minted = self.tenant.mint_saml_response(**(request | overrides))
        except ApiError as exc:
            raise NotJudged(
                f"The sandbox could not mint the response: {exc.problem.get('detail', exc)}"
            ) from exc
        return minted["xml"].encode()

    def describe(self) -> dict[str, Any]:
        return {
            "sp_entity_id": self.sp.entity_id,
            "idp_tenant": self.tenant_id,
            "idp_metadata_url": self.idp_metadata_url,
            "login_url": self.target.sp.login_url,
            "probe_url": self.target.probe.url,
            "members": {person.role: person.member_id for person in self.people},
        }

    def close_agents(self) -> None:
        for agent in self.agents:
            agent.close()
        self.agents.clear()


def _metadata(target: SamlSpTarget) -> tuple[bytes, str]:
    if target.sp.metadata_file is not None:
        path = target.sp.metadata_file
        try:
            return path.read_bytes()[:METADATA_BYTES_LIMIT], str(path)
        except OSError as exc:
            raise TargetUnusable(f"The SP's metadata file {path} cannot be read ({exc.strerror}).") from exc
    url = str(target.sp.metadata_url)
    try:
        response = httpx.get(
            url, timeout=target.timeout_seconds, follow_redirects=True, verify=client_verify()
        )
    except httpx.HTTPError as exc:
        raise TargetUnusable(f"The SP's metadata at {url} could not be fetched ({_reason(exc)}).") from exc
    if response.status_code != 200:
        raise TargetUnusable(f"The SP's metadata at {url} answered HTTP {response.status_code}.")
    return response.content[:METADATA_BYTES_LIMIT], url


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "nothing answers there"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return http_failure(exc)


def _check_login_url(target: SamlSpTarget) -> None:
    try:
        httpx.get(target.sp.login_url, timeout=target.timeout_seconds, verify=client_verify())
    except httpx.HTTPError as exc:
        raise TargetUnusable(
            f"The SP does not answer at its login URL {target.sp.login_url} ({_reason(exc)})."
        ) from exc


def _ensure_tenant(sandbox: SandboxClient, tenant_id: str) -> None:
    if sandbox.find_tenant(tenant_id) is None:
        log.info("creating the IdP tenant %s (first use)", tenant_id)
        sandbox.create_tenant(tenant_id, name=f"Conformance IdP {tenant_id}")


@contextmanager
def open_world(loaded: LoadedTarget, sandbox: SandboxClient, keep: bool = False) -> Iterator[World]:
    """Set the run up (see the module docstring); raises :class:`TargetUnusable` when the SP cannot be
    certified at all (no metadata, metadata that is not XML, nothing answering), having changed nothing
    but creating the IdP tenant when it did not exist yet (an SP may need it to publish its metadata)."""
    target: SamlSpTarget = loaded.target
    _ensure_tenant(sandbox, target.idp.tenant)
    xml, where = _metadata(target)
    try:
        sp = parse_sp_metadata(xml, where)
    except MetadataUnusable as exc:
        raise TargetUnusable(exc.message) from exc
    _check_login_url(target)
    world = World(target, sandbox, sp)
    previous = next((p for p in world.tenant.service_providers() if p["entity_id"] == sp.entity_id), None)
    try:
        world.tenant.register_service_provider(xml.decode("utf-8", errors="replace"), sign="both")
    except ApiError as exc:
        world.registration_error = str(exc.problem.get("detail") or exc)
    created: list[TestMember] = []
    try:
        for person in world.people:
            world.tenant.create_member(person.fields())
            created.append(person)
        yield world
    finally:
        world.close_agents()
        if not keep:
            _clean_up(world, created, previous, xml)


def _clean_up(world: World, created: list[TestMember], previous: dict[str, Any] | None, xml: bytes) -> None:
    """Delete the run's members and put the SP's registration back as it was (or remove it)."""
    for person in created:
        try:
            world.tenant.delete_member(person.member_id)
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("could not delete the test member %s: %s", person.member_id, exc)
    if world.registration_error is not None:
        return  # the registration was refused: it is as it was
    try:
        if previous is not None:
            options = {key: previous[key] for key in ("sign", "encrypt_assertion", "attributes")}
            world.tenant.register_service_provider(xml.decode("utf-8", errors="replace"), **options)
        else:
            registered = [p for p in world.tenant.service_providers() if p["entity_id"] == world.sp.entity_id]
            for registration in registered:
                world.tenant.delete_service_provider(registration["id"])
    except (ApiError, httpx.HTTPError) as exc:
        log.warning("could not restore the SP's registration: %s", exc)
