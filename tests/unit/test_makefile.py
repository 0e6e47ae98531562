"""The Makefile's installs: `make run` installs only the package, `make test` adds the test extras, and
each installs once per pyproject.toml (in either order, without reinstalling or missing the extras).

The virtual environment is a fake one: its `python` and `sandbox` only write down how they were called,
so `make run` can run for real without installing anything or starting a sandbox.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fake virtual environment whose programs log their arguments to calls.log."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("python", "sandbox"):
        script = bin_dir / program
        script.write_text(f'#!/bin/sh\necho "{program} $*" >> "{tmp_path / "calls.log"}"\n')
        script.chmod(0o755)
    return tmp_path / "venv"


def make(venv: Path, *args: str) -> str:
    """Runs make in the repository with the fake venv; returns what it printed."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def pip_installs(output: str) -> list[str]:
    """What each `pip install` line in make's output installs (its last word)."""
    return [line.split()[-1] for line in output.splitlines() if "pip install" in line]


def calls(venv: Path) -> list[str]:
    log = venv.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_make_run_installs_only_the_package(venv: Path) -> None:
    assert pip_installs(make(venv, "-n", "run")) == ["."]


def test_make_test_installs_the_test_extras(venv: Path) -> None:
    assert pip_installs(make(venv, "-n", "test")) == ["'.[test]'"]


def test_make_test_after_make_run_adds_the_test_extras_once(venv: Path) -> None:
    make(venv, "run")
    assert calls(venv) == [
        "python -m pip install --quiet --disable-pip-version-check -e .",
        "sandbox up",
    ]

    assert pip_installs(make(venv, "-n", "test")) == ["'.[test]'"]
    make(venv, "install-test")

    assert pip_installs(make(venv, "-n", "test")) == []
    assert pip_installs(make(venv, "-n", "run")) == []


def test_make_run_after_the_test_install_installs_nothing(venv: Path) -> None:
    make(venv, "install-test")
    make(venv, "run")

    assert calls(venv) == [
        "python -m pip install --quiet --disable-pip-version-check -e .[test]",
        "sandbox up",
    ]
    assert pip_installs(make(venv, "-n", "test")) == []


def test_stamps_of_an_earlier_pyproject_do_not_count_and_are_removed(venv: Path) -> None:
    (venv / ".installed-1").touch()
    (venv / ".installed-1-test").touch()

    make(venv, "run")

    assert calls(venv) == [
        "python -m pip install --quiet --disable-pip-version-check -e .",
        "sandbox up",
    ]
    assert [path.name for path in venv.glob(".installed-*")] == [f".installed-{checksum_of_pyproject()}"]


def checksum_of_pyproject() -> str:
    """The checksum the Makefile names its stamps after."""
    result = subprocess.run(
        ["cksum"], input=(REPO / "pyproject.toml").read_bytes(), capture_output=True, check=True
    )
    return result.stdout.decode().split()[0]
