"""The sandbox as a pytest plugin: a ``sandbox`` fixture, and a suite's checks as test items.

Installed with the sandbox (entry point ``pytest11``), so any test session has:

- ``sandbox``: a temporary sandbox for the whole session (``sandbox up --no-demo`` on free 127.0.0.1
  ports, a throw-away SQLite folder, stopped at the end) as a :class:`SandboxClient` with the admin key;
- ``sandbox_tenant``: a fresh tenant of it for one test (a :class:`TenantClient`), deleted afterwards;
- ``pytest --sandbox-target target.yaml``: the checks of the target's suite, one test item each, run
  against the configured sandbox (or a temporary one). A MUST check that fails or cannot be judged fails
  its item; a SHOULD check that fails is reported xfailed (visible, not failing the session); a check
  that does not apply, or a SHOULD check that cannot be judged, is skipped.

Example::

    def test_my_connector_gets_a_member(sandbox_tenant):
        person = {"email": "a@example.org", "given_name": "A", "family_name": "B"}
        assert sandbox_tenant.create_member(person)["member_id"]
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.harness.checks import MUST, Check, Outcome, Suite
from conformance.harness.runner import run_check
from conformance.harness.target import load_target
from simulator.config import load_config
from simulator.scenario.client import SandboxClient, TenantClient
from simulator.scenario.target import sandbox_target, temporary_sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sandbox", "AMS–LMS integration sandbox")
    group.addoption(
        "--sandbox-target",
        metavar="FILE",
        type=Path,
        help="Run the conformance suite a target file names, one test item per check.",
    )
    group.addoption(
        "--sandbox-keep", action="store_true", help="Keep the run's test members and registration."
    )


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxClient]:
    """A temporary sandbox for the test session (started once, stopped at the end)."""
    with temporary_sandbox() as client:
        yield client


@pytest.fixture
def sandbox_tenant(sandbox: SandboxClient) -> Iterator[TenantClient]:
    """A fresh tenant (demo personas, no generated members) for one test, deleted afterwards."""
    tenant = sandbox.create_tenant(f"t-{secrets.token_hex(5)}")
    yield tenant
    sandbox.delete_tenant(tenant.tenant_id)


class CheckFailed(Exception):
    """A MUST check that did not pass."""


class _Certification:
    """One run of the target's suite, opened when the first check item runs and closed at session end."""

    def __init__(self, config: pytest.Config, path: Path, suite: Suite) -> None:
        self.config, self.path, self.suite = config, path, suite
        self.stack = ExitStack()
        self.world: Any = None

    def open(self) -> Any:
        if self.world is None:
            client = self.stack.enter_context(sandbox_target(load_config()))
            urls = {"console_url": client.console_url, "ams_url": client.ams_url, "lms_url": client.lms_url}
            loaded = load_target(self.path, self.suite.target_model, self.suite.name, urls)
            keep = bool(self.config.getoption("sandbox_keep"))
            self.world = self.stack.enter_context(self.suite.open_world(loaded, client, keep))
            if self.suite.calibrate is not None:
                self.suite.calibrate(self.world)
        return self.world

    def close(self) -> None:
        self.stack.close()


class CheckItem(pytest.Item):
    def __init__(self, *, check: Check, certification: _Certification, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.certification = certification
        self.add_marker(pytest.mark.conformance)

    def runtest(self) -> None:
        result = run_check(self.check, self.certification.open())
        self.user_properties += [("level", str(self.check.level)), ("spec", self.check.spec)]
        if result.outcome == Outcome.SKIPPED:
            pytest.skip(result.reason)
        if result.outcome == Outcome.PASSED:
            return
        if self.check.level != MUST and result.outcome == Outcome.NOT_JUDGED:
            pytest.skip(result.reason)
        if self.check.level != MUST:
            pytest.xfail(f"SHOULD not met: {result.reason}")
        raise CheckFailed(f"{result.reason}\nRemediation: {self.check.remediation}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.check.id} ({self.check.level}, {self.check.spec}): {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.certification.path, 0, f"{self.check.id}: {self.check.title}"


class TargetCollector(pytest.Collector):
    def __init__(self, *, certification: _Certification, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.certification = certification

    def collect(self) -> list[pytest.Item]:
        return [
            CheckItem.from_parent(self, name=check.id, check=check, certification=self.certification)
            for check in self.certification.suite.checks
        ]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a check of a conformance suite (--sandbox-target)")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    path = config.getoption("sandbox_target")
    if path is None:
        return
    from conformance.suites import load_suite, suite_names

    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    name = document.get("suite") if isinstance(document, dict) else None
    if name not in suite_names():
        raise pytest.UsageError(f"{path}: not a target file of a known suite ({', '.join(suite_names())}).")
    certification = _Certification(config, path, load_suite(name))
    config.add_cleanup(certification.close)
    collector = TargetCollector.from_parent(session, name=str(path), certification=certification)
    items.extend(collector.collect())
