"""Starting the sandbox prints no warning about pysaml2's use of the CFB cipher mode, and only that
warning is silenced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CFB_WARNING = "CFB has been moved"
SANDBOX = Path(sys.executable).with_name("sandbox")


def stderr_of(*command: str, cwd: Path) -> str:
    finished = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    return finished.stderr


@pytest.mark.parametrize("arguments", [["--help"], ["config"]])
def test_sandbox_commands_print_no_cfb_warning(arguments: list[str], tmp_path: Path) -> None:
    assert CFB_WARNING not in stderr_of(str(SANDBOX), *arguments, cwd=tmp_path)


def test_loading_the_apps_as_sandbox_up_does_prints_no_cfb_warning_but_other_warnings_show(
    tmp_path: Path,
) -> None:
    script = (
        "import warnings\n"
        "import simulator.ams.app, simulator.console.app, simulator.lms.app\n"
        "import saml2.cryptography.symmetric\n"
        "from cryptography.utils import CryptographyDeprecationWarning\n"
        "warnings.warn('CFB has been moved, says someone else', CryptographyDeprecationWarning)\n"
    )

    stderr = stderr_of(sys.executable, "-c", script, cwd=tmp_path)

    assert "saml2/cryptography/symmetric.py" not in stderr
    assert "CFB has been moved, says someone else" in stderr  # the filter is not global
