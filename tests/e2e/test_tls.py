"""`sandbox up --tls`: a local CA made once per data folder, the three apps over HTTPS, every URL they hand
out https://, and sign-ins and scenarios that verify the certificate (never with verification off)."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.core import tls
from simulator.core.tls import verifying_context
from simulator.scenario.agent import UserAgent
from simulator.scenario.client import SandboxClient
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario
from simulator.scenario.target import free_ports, temporary_sandbox
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
ADMIN_KEY = "sbx_admin_e2e-tls-0123456789abcdefghijklmnopqr"
SCENARIOS = Path(__file__).parents[2] / "scenarios"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


class TlsSandbox:
    """`sandbox up --tls` on free ports with ``data_dir``; stopped by :meth:`stop` (or the fixture)."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        ports = dict(zip(APPS, free_ports(3), strict=True))
        self.urls = {app: f"https://127.0.0.1:{port}" for app, port in ports.items()}
        self.ca = data_dir / "tls" / "ca.pem"
        command = [*SANDBOX_COMMAND, "up", "--tls", *(f"--{app}-port={port}" for app, port in ports.items())]
        env = clean_env(data_dir=str(data_dir), admin_key=ADMIN_KEY, worker_poll_seconds="0.2")
        self.group = ProcessGroup.start(command, env, log_dir)
        wait_until(lambda: "Ctrl-C" in self.group.stdout, 60, lambda: f"the banner\n{self.group.describe()}")
        self.verify = verifying_context(ca_pem=self.ca.read_text())

    def get(self, app: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.get(self.urls[app] + path, headers=headers, verify=self.verify, timeout=10, **kwargs)

    def stop(self) -> None:
        assert self.group.interrupt(signal.SIGINT, timeout=20) == 0, self.group.describe()


@pytest.fixture
def started(tmp_path: Path):
    sandboxes: list[TlsSandbox] = []

    def start(data_dir: Path) -> TlsSandbox:
        sandbox = TlsSandbox(data_dir, tmp_path / f"run{len(sandboxes)}")
        sandboxes.append(sandbox)
        return sandbox

    yield start
    for sandbox in sandboxes:
        sandbox.group.kill()


def sign_in(sandbox: TlsSandbox, email: str) -> dict:
    with UserAgent(email, verify=sandbox.verify) as browser:
        landing = browser.journey(f"{sandbox.urls['lms']}/t/demo/login?return_to=/t/demo/me", email, "demo")
    assert landing.status == 200, (landing.url, landing.code, landing.body)
    assert all(hop.startswith("https://") for hop in landing.hops), landing.hops
    assert landing.submitted and all(form.action.startswith("https://") for form in landing.submitted)
    return landing.body


def test_up_tls_serves_https_with_a_ca_made_once(started, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    sandbox = started(data_dir)
    banner = sandbox.group.stdout
    assert f"{sandbox.urls['console']}/docs/" in banner and str(sandbox.ca) in banner

    for app in APPS:
        assert sandbox.get(app, "/healthz").json()["app"] == app
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{sandbox.urls['ams']}/healthz", timeout=5)  # the default trust store alone
    with pytest.raises(httpx.HTTPError):
        httpx.get(sandbox.urls["ams"].replace("https", "http") + "/healthz", timeout=5)

    for key in ("ca-key.pem", "server-key.pem"):
        assert (data_dir / "tls" / key).stat().st_mode & 0o777 == 0o600

    metadata = ET.fromstring(sandbox.get("ams", "/t/demo/saml/metadata").content)
    assert metadata.get("entityID", "").startswith(f"{sandbox.urls['ams']}/t/demo")
    locations = [element.get("Location") for element in metadata.iter() if element.get("Location")]
    assert locations and all(location.startswith("https://") for location in locations)
    discovery = sandbox.get("ams", "/t/demo/.well-known/openid-configuration").json()
    assert discovery["issuer"].startswith("https://")
    assert all(
        value.startswith("https://") for name, value in discovery.items() if name.endswith("_endpoint")
    )

    assert sign_in(sandbox, "active.member@demo.test")["protocol"] == "saml"
    patched = httpx.patch(
        f"{sandbox.urls['console']}/api/tenants/demo/settings",
        json={"sso": {"protocol": "oidc"}},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        verify=sandbox.verify,
        timeout=10,
    )
    assert patched.status_code == 200, patched.text
    assert sign_in(sandbox, "grace.member@demo.test")["protocol"] == "oidc"  # discovery, token, JWKS over TLS

    printed = subprocess.run(
        [*SANDBOX_COMMAND, "tls", "ca", f"--data-dir={data_dir}"],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert printed.stdout.startswith("-----BEGIN CERTIFICATE-----") and str(sandbox.ca) in printed.stderr
    context = ssl.create_default_context(cadata=printed.stdout)  # that CA and nothing else
    assert httpx.get(f"{sandbox.urls['lms']}/healthz", verify=context, timeout=5).status_code == 200

    files = {path.name: path.read_bytes() for path in (data_dir / "tls").iterdir()}
    sandbox.stop()
    again = started(data_dir)
    assert {path.name: path.read_bytes() for path in (data_dir / "tls").iterdir()} == files
    assert again.get("console", "/healthz").status_code == 200
    again.stop()


def _loadtest(client: SandboxClient, folder: Path) -> tuple[Result, dict[str, Any]]:
    report = folder / f"report-{len(list(folder.iterdir()))}.json"
    target = [f"--console-url={client.console_url}", f"--ams-url={client.ams_url}"]
    target += [f"--lms-url={client.lms_url}", f"--admin-key={client.key}", "--json", str(report)]
    result = CliRunner().invoke(main, ["loadtest", "writeback-ingest", "-u", "2", "-t", "3s", *target])
    return result, json.loads(report.read_text())


def test_scenarios_and_load_tests_run_unchanged_against_a_tls_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_sandbox(up_options=["--tls"]) as client:
        assert client.console_url.startswith("https://")
        for name in ("01-saml-purchase-immediate-writeback.yaml", "02-oidc-purchase-next-sign-on.yaml"):
            result = run_scenario(load_scenario(SCENARIOS / name), client)
            failed = result.failed_step
            assert result.ok, f"{name} step {failed.index} {failed.label}: {failed.error}" if failed else name

        passed, report = _loadtest(client, tmp_path)
        assert passed.exit_code == 0, passed.output
        assert report["locust"]["total"]["requests"] > 0 and report["locust"]["total"]["failures"] == 0

        # locust's users verify the certificate: not told the sandbox's CA, every request fails
        monkeypatch.setattr(tls, "child_trust_environment", lambda folder: {})
        monkeypatch.delenv(tls.CA_BUNDLE_ENV, raising=False)
        refused, report = _loadtest(client, tmp_path)
        assert refused.exit_code == 1, refused.output
        total = report["locust"]["total"]
        assert total["requests"] > 0 and total["failures"] == total["requests"]
