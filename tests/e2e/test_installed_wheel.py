"""Installed from a wheel, the sandbox is whole: what a user who never cloned the repository gets.

The module builds the wheel from the working tree (copied out first, so no build/ folder is left in the
checkout), installs it into a fresh virtualenv outside the checkout — its dependencies from the package
index, as `pipx install` would — and runs the installed `sandbox` from a folder that has no
`scenarios/`: the packaged library, `scenario init`, a real `sandbox up` on free ports with one packaged
scenario, the honest checks of the saml-sp suite and a short `writeback-ingest` load test played against
it, then Ctrl-C and nothing left running.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from simulator.scenario.target import free_ports
from tests.helpers.processes import ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
APPS = ("console", "ams", "lms")
ADMIN_KEY = "sbx_admin_wheel-0123456789abcdefghijklmnopqr"
LIBRARY = sorted(path.name for path in (ROOT / "simulator" / "scenario" / "library").glob("*.yaml"))


@dataclass
class Installed:
    venv: Path
    home: Path  # an empty folder outside the checkout: the user's working directory

    def command(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command("sandbox"), *args],
            cwd=self.home,
            env=env or clean_env(data_dir=str(self.home / ".sandbox")),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _source_tree(destination: Path) -> Path:
    """The files of the checkout a clone would have (tracked, or new and not ignored), symlinks kept."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listing.stdout.decode().split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def _check(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed ({result.returncode})\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    source = _source_tree(base / "source")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _check(
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--quiet", str(source), "-w", str(base / "dist")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        ),
        "Building the wheel",
    )
    (wheel,) = (base / "dist").glob("ams_lms_sandbox-*.whl")
    venv = base / "venv"
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--upgrade-deps", str(venv)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        ),
        "Creating the virtualenv",
    )
    _check(
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        ),
        "Installing the wheel",
    )
    home = base / "home"
    home.mkdir()
    return Installed(venv, home)


def test_the_installed_package_is_the_wheel_and_says_what_it_is(installed: Installed) -> None:
    where = subprocess.run(
        [installed.command("python"), "-c", "import conformance, simulator; print(simulator.__file__)"],
        cwd=installed.home,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.venv) and not Path(where).is_relative_to(ROOT)

    shown = subprocess.run(
        [installed.command("pip"), "show", "ams-lms-sandbox"], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(line.split(": ", 1) for line in shown.splitlines() if ": " in line)
    assert fields["Name"] == "ams-lms-sandbox"
    assert fields["Summary"].startswith("A sandbox AMS and LMS")
    assert fields["License-Expression"] == "Apache-2.0"
    assert fields["Home-page"].startswith("https://")


def test_the_packaged_library_is_listed_and_a_scenario_can_be_started_from_it(installed: Installed) -> None:
    assert not (installed.home / "scenarios").exists()
    listing = _check(installed.run("scenario", "list"), "sandbox scenario list")
    for name in LIBRARY:
        assert name in listing
    assert "invalid" not in listing.lower()

    _check(installed.run("scenario", "init", "13", "-o", "mine/handoff.yaml"), "sandbox scenario init")
    copied = installed.home / "mine" / "handoff.yaml"
    assert copied.read_text() == (ROOT / "scenarios" / "13-token-handoff-sign-in.yaml").read_text()
    assert json.loads((installed.home / "mine" / "schema.json").read_text())["$id"].endswith("scenario.json")
    assert "ok" in _check(installed.run("scenario", "validate", "mine/handoff.yaml"), "validate")

    again = installed.run("scenario", "init", "13", "-o", "mine/handoff.yaml")
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr


@pytest.fixture
def running(installed: Installed) -> Iterator[tuple[dict[str, str], ProcessGroup]]:
    ports = dict(zip(APPS, free_ports(3), strict=True))
    env = clean_env(data_dir=str(installed.home / ".sandbox"), admin_key=ADMIN_KEY, worker_poll_seconds="0.2")
    group = ProcessGroup.start(
        [installed.command("sandbox"), "up", "--no-demo", *(f"--{a}-port={p}" for a, p in ports.items())],
        env,
        installed.home.parent / "up",
        cwd=installed.home,
    )
    urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}

    def ready() -> bool:
        assert group.process.poll() is None, group.describe()
        try:
            healthy = all(httpx.get(f"{url}/healthz", timeout=2).status_code == 200 for url in urls.values())
        except httpx.HTTPError:
            return False
        return healthy and "Ctrl-C" in group.stdout

    try:
        wait_until(ready, 60, lambda: f"the installed sandbox to be up\n{group.describe()}")
        yield urls, group
    finally:
        group.kill()


def test_the_installed_sandbox_runs_a_packaged_scenario_certifies_its_own_lms_and_takes_load(
    installed: Installed, running: tuple[dict[str, str], ProcessGroup]
) -> None:
    urls, group = running
    elsewhere = [
        f"--console-url={urls['console']}",
        f"--ams-url={urls['ams']}",
        f"--lms-url={urls['lms']}",
        f"--admin-key={ADMIN_KEY}",
    ]
    played = _check(installed.run("scenario", "run", "13", "--no-start", *elsewhere), "scenario run 13")
    assert "PASS" in played and "FAIL" not in played

    suites = _check(installed.run("certify", "list"), "sandbox certify list")
    assert "saml-sp" in suites
    certified = installed.run(
        "certify",
        "saml-sp",
        "--target",
        "sandbox-lms",
        "--only",
        "SAML-SP-HONEST-*",
        "--no-start",
        "--json",
        str(installed.home / "certify.json"),
        *elsewhere,
    )
    _check(certified, "certify saml-sp --target sandbox-lms")
    report = json.loads((installed.home / "certify.json").read_text())
    outcomes = {check["id"]: check["outcome"] for check in report["checks"]}
    assert outcomes and set(outcomes) <= {f"SAML-SP-HONEST-{n}" for n in range(1, 10)}
    assert set(outcomes.values()) <= {"passed", "skipped"} and "passed" in outcomes.values()

    assert "writeback-ingest" in _check(installed.run("loadtest", "--help"), "sandbox loadtest --help")
    loaded = installed.run(
        "loadtest", "writeback-ingest", "-u", "2", "-t", "2s", "--no-start", "--html", "load.html", *elsewhere
    )
    assert "PASSED: nothing lost, nothing duplicated." in _check(loaded, "loadtest writeback-ingest")
    assert "Reconciliation" in (installed.home / "load.html").read_text()  # the packaged report template

    pids = [
        process["pid"]
        for process in httpx.get(
            f"{urls['console']}/api/processes", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
        ).json()["processes"]
    ]
    assert group.interrupt(signal.SIGINT) == 0, group.describe()
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
