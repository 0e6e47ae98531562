"""The ``sso-storm`` and ``checkout`` load profiles, run for real: a temporary sandbox, locust as a
subprocess for a few seconds, then the profile's reconciliation — which passes on an honest run and
names the defect when a fault rule makes the sandbox lie or drop work."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtests.plan import PLAN_ENV, Plan
from loadtests.profile import Finished, Profile
from loadtests.profiles import load_profile
from loadtests.reconcile import Section
from simulator.scenario.client import SandboxClient, TenantClient
from simulator.scenario.target import temporary_sandbox

pytestmark = pytest.mark.e2e

RUN_SECONDS = 5.0
LOCUST_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxClient]:
    with temporary_sandbox() as client:
        yield client


def _tenant(client: SandboxClient, profile: Profile) -> TenantClient:
    return client.create_tenant(
        f"lt-{profile.name.split('-')[0]}-{secrets.token_hex(3)}",
        seed=7,
        members=profile.members,
        settings=dict(profile.settings),
    )


def _run(
    client: SandboxClient,
    tenant: TenantClient,
    profile: Profile,
    tmp_path: Path,
    drain_timeout: float = 30.0,
    faults: tuple[dict[str, Any], ...] = (),
    **options: Any,
) -> tuple[dict[str, Any], list[Section]]:
    """Prepare, add the fault rules (after preparing, as ``sandbox loadtest --fault`` does), run locust
    headless for a few seconds with 4 users, reconcile; (result, sections)."""
    values = profile.parse_options({name: str(value) for name, value in options.items()})
    plan = Plan(
        profile=profile.name,
        run_id=secrets.token_hex(3),
        tenant=tenant.tenant_id,
        tenant_key=tenant.key,
        console_url=client.console_url,
        ams_url=client.ams_url,
        lms_url=client.lms_url,
        run_time_seconds=RUN_SECONDS,
        max_requests=100_000,
        result_path=str(tmp_path / "result.json"),
        options=values,
        data=profile.prepare(tenant, values),
    )
    for rule in faults:
        tenant.set_fault(rule)
    command = [sys.executable, "-m", "locust", "-f", str(profile.locustfile_path), "--headless"]
    command += ["-u", "4", "-r", "4", "--host", client.ams_url, "--stop-timeout", "10"]
    completed = subprocess.run(
        command,
        env={**os.environ, PLAN_ENV: plan.to_json()},
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_SECONDS,
        check=False,
    )
    result_file = tmp_path / "result.json"
    assert result_file.exists(), completed.stderr[-3000:]
    result = json.loads(result_file.read_text())
    seconds = max(result["stopped_at"] - result["started_at"], 0.001)
    return result, profile.reconcile(Finished(tenant, plan, result["ledger"], seconds, drain_timeout))


def _problems(sections: list[Section]) -> list[str]:
    return [problem for section in sections for problem in section.problems]


def _outcomes(result: dict[str, Any], kind: str) -> Counter[str]:
    return Counter(facts["outcome"] for facts in result["ledger"].get(kind, {}).values())


@pytest.mark.parametrize("protocol", ["saml", "oidc"])
def test_sso_storm_signs_members_in_as_themselves(
    sandbox: SandboxClient, tmp_path: Path, protocol: str
) -> None:
    profile = load_profile("sso-storm")
    tenant = _tenant(sandbox, profile)

    result, sections = _run(sandbox, tenant, profile, tmp_path, protocol=protocol)

    assert _problems(sections) == []
    assert _outcomes(result, "sign_ins")["signed_in"] > 0
    assert {facts["protocol"] for facts in result["ledger"]["sign_ins"].values()} == {protocol}
    assert "LMS GET /me (probe)" in {endpoint["name"] for endpoint in result["stats"]["endpoints"]}


def test_sso_storm_fails_when_the_probe_names_someone_else(sandbox: SandboxClient, tmp_path: Path) -> None:
    profile = load_profile("sso-storm")
    tenant = _tenant(sandbox, profile)
    impostor = {"member_id": "M999999", "email": "someone.else@example.org", "access": "full"}
    lying_probe = {
        "name": "probe names someone else",
        "app": "lms",
        "method": "GET",
        "path": "/me",
        "status": 200,
        "content_type": "application/json",
        "body": json.dumps(impostor),
    }

    result, sections = _run(sandbox, tenant, profile, tmp_path, faults=(lying_probe,))

    wrong = _outcomes(result, "sign_ins")["wrong_identity"]
    assert wrong > 0
    assert f"{wrong} sign-ins landed on the LMS as someone else" in _problems(sections)


def test_checkout_pays_orders_and_enrols_each_course_once(sandbox: SandboxClient, tmp_path: Path) -> None:
    profile = load_profile("checkout")
    tenant = _tenant(sandbox, profile)

    result, sections = _run(sandbox, tenant, profile, tmp_path, declines=0.3)

    assert _problems(sections) == []
    outcomes = _outcomes(result, "checkouts")
    assert outcomes["paid"] > 0
    assert outcomes["declined"] > 0
    rows = {row.measure: row.value for row in sections[0].rows}
    assert rows["orders at the AMS"] == outcomes["paid"] + rows["orders of unanswered checkouts"]
    assert rows["purchased courses"] >= outcomes["paid"]
    assert rows["missing enrollment"] == 0


def test_checkout_fails_when_purchases_never_reach_the_lms(sandbox: SandboxClient, tmp_path: Path) -> None:
    profile = load_profile("checkout")
    tenant = _tenant(sandbox, profile)
    purchases_down = {
        "name": "LMS purchases down",
        "app": "lms",
        "method": "POST",
        "path": "/commerce/webhooks",
        "status": 503,
    }

    result, sections = _run(sandbox, tenant, profile, tmp_path, drain_timeout=2.0, faults=(purchases_down,))

    section = sections[0]
    rows = {row.measure: row.value for row in section.rows}
    assert rows["purchased courses"] > 0
    assert f"{rows['purchased courses']} purchased courses have no enrollment at the LMS" in section.problems
    assert any(
        problem.endswith("outbox messages were still undelivered 2 s after the run")
        for problem in section.problems
    )
    assert _outcomes(result, "checkouts")["paid"] > 0
