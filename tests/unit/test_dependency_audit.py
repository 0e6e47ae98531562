"""scripts/audit_dependencies.py against a registry of canned project JSON documents served over real HTTP:
what counts as checked, a finding, justified or not checkable, and how it fails (exit codes, one sentence,
never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from simulator.scenario.target import free_ports

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "audit_dependencies.py"

VULNERABILITY = {
    "id": "GHSA-aaaa-bbbb-cccc",
    "aliases": ["CVE-2099-0001"],
    "fixed_in": [],
    "summary": "Crafted headers make the parser loop forever",
    "details": "Longer text.",
    "link": "https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc",
    "source": "osv",
    "withdrawn": None,
}


class Registry:
    """Project JSON documents by normalised name, as ``{url}/{name}/json`` serves them (404 otherwise)."""

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        self.url = ""

    def publish(self, name: str, latest: str, vulnerabilities: list[dict] | None = None) -> None:
        self.documents[name] = {"info": {"version": latest}, "vulnerabilities": vulnerabilities or []}


@pytest.fixture
def registry() -> Iterator[Registry]:
    registry = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            _, root, name, tail = [*self.path.split("/"), "", ""][:4]
            document = registry.documents.get(name) if (root, tail) == ("pypi", "json") else None
            body = json.dumps(document).encode() if document else b'{"message": "Not Found"}'
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    registry.url = f"http://127.0.0.1:{server.server_address[1]}/pypi"
    yield registry
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def justifications(tmp_path: Path) -> Path:
    path = tmp_path / "audit-justifications.toml"
    path.write_text("# none\n")
    return path


def run_audit(
    index_url: str, justifications: Path, *only: str, ci: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"} | ({"CI": "true"} if ci else {})
    arguments = ["--index-url", index_url, "--justifications", str(justifications), "--only", *only]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout + result.stderr


def test_a_package_at_its_latest_release_without_vulnerabilities_is_clean(
    registry: Registry, justifications: Path
) -> None:
    registry.publish("flask", "3.1.0")

    result = run_audit(registry.url, justifications, "Flask==3.1.0")

    assert result.returncode == 0
    assert output(result).splitlines() == [
        f"audited 1 given packages against {registry.url}: 1 checked at their latest release, "
        "0 findings (0 justified), 0 not checkable here."
    ]


def test_a_vulnerability_of_the_latest_release_is_a_finding(registry: Registry, justifications: Path) -> None:
    registry.publish("some-parser", "2.0", [VULNERABILITY])

    result = run_audit(registry.url, justifications, "some_parser==2.0.0")

    assert result.returncode == 1
    text = output(result)
    assert "1 findings (0 justified)" in text
    assert "GHSA-aaaa-bbbb-cccc (CVE-2099-0001)" in text
    assert "Crafted headers make the parser loop forever" in text
    assert "https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc" in text


def test_a_justified_finding_passes_and_says_why(registry: Registry, justifications: Path) -> None:
    registry.publish("some-parser", "2.0", [VULNERABILITY])
    justifications.write_text(
        '[[justified]]\npackage = "Some.Parser"\nid = "CVE-2099-0001"\n'
        'reason = "The sandbox parses only headers it wrote itself."\n'
    )

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 0
    text = output(result)
    assert "1 findings (1 justified)" in text
    assert "justified: The sandbox parses only headers it wrote itself." in text
    assert "stale" not in text


def test_a_justification_that_matches_no_finding_is_reported_as_stale(
    registry: Registry, justifications: Path
) -> None:
    registry.publish("some-parser", "2.0")
    justifications.write_text('[[justified]]\npackage = "some-parser"\nid = "CVE-2099-0001"\nreason = "x"\n')

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 0
    assert "stale justification" in output(result)


def test_a_withdrawn_vulnerability_is_not_a_finding(registry: Registry, justifications: Path) -> None:
    registry.publish("some-parser", "2.0", [VULNERABILITY | {"withdrawn": "2099-02-01T00:00:00Z"}])

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 0
    assert "1 checked at their latest release, 0 findings" in output(result)


def test_a_package_pinned_below_its_latest_release_is_not_checkable(
    registry: Registry, justifications: Path
) -> None:
    registry.publish("some-parser", "2.1", [VULNERABILITY])

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 0
    text = output(result)
    assert "0 checked at their latest release, 0 findings (0 justified), 1 not checkable here:" in text
    assert "some-parser: pinned 2.0, latest 2.1" in text


def test_a_package_the_registry_does_not_know_is_not_checkable(
    registry: Registry, justifications: Path
) -> None:
    result = run_audit(registry.url, justifications, "private-tool==1.0")

    assert result.returncode == 0
    text = output(result)
    assert "1 not checkable here:" in text
    assert "private-tool 1.0: not on this registry (404)" in text


def test_a_syntax_error_in_the_justifications_names_its_line(
    registry: Registry, justifications: Path
) -> None:
    justifications.write_text('[[justified]]\npackage = "some-parser"\nid = CVE-2099-0001\n')

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 2
    assert "audit-justifications.toml:3: " in output(result)


def test_a_justification_without_a_reason_is_refused(registry: Registry, justifications: Path) -> None:
    justifications.write_text('[[justified]]\npackage = "some-parser"\nid = "CVE-2099-0001"\n')

    result = run_audit(registry.url, justifications, "some-parser==2.0")

    assert result.returncode == 2
    assert output(result).splitlines() == [f"{justifications}: entry 1: 'reason' is missing or empty."]


@pytest.mark.parametrize(("ci", "exit_code"), [(True, 1), (False, 0)])
def test_an_unreachable_registry_is_one_sentence_and_fails_only_in_ci(
    justifications: Path, ci: bool, exit_code: int
) -> None:
    index_url = f"http://127.0.0.1:{free_ports(1)[0]}/pypi"

    result = run_audit(index_url, justifications, "some-parser==2.0", ci=ci)

    assert result.returncode == exit_code
    assert output(result).splitlines() == [
        ("" if ci else "warning: ")
        + f"{index_url} could not be reached (the connection was refused), so no dependency was audited."
    ]
