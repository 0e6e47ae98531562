"""Console tests in a real browser: Debian's Chromium, driven by Playwright, against ``sandbox up``.

The sandbox is the session's temporary one (``sandbox`` fixture of :mod:`conformance.pytest_plugin`:
gunicorn apps and a worker on free 127.0.0.1 ports). The browser is the system's ``chromium`` (installed
by ``make test``), never one downloaded at run time. Screenshots go to ``test-artifacts/console/``
(``SANDBOX_TEST_ARTIFACTS`` moves the folder).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario.client import SandboxClient, TenantClient

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SANDBOX_TEST_ARTIFACTS", "test-artifacts")) / "console"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Any, sandbox: SandboxClient) -> Iterator[Any]:
    """A fresh browser profile (its own cookies) aimed at the console, allowed to use the clipboard."""
    context = browser.new_context(base_url=sandbox.console_url, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=sandbox.console_url)
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sign_in(page: Any, key: str) -> None:
    """Sign in through the console's form, as a person does."""
    page.goto("/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def admin_page(page: Any, sandbox: SandboxClient) -> Any:
    sign_in(page, sandbox.key)
    return page


@pytest.fixture
def tenant(sandbox: SandboxClient) -> Iterator[TenantClient]:
    """A fresh tenant for one test (demo personas), deleted afterwards."""
    client = sandbox.create_tenant(f"ui-{secrets.token_hex(4)}")
    try:
        yield client
    finally:
        sandbox.delete_tenant(client.tenant_id)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
