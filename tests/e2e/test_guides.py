"""The getting-started guide cannot rot: every shell command in it runs against a fresh `sandbox up`.

The guide's ```sh blocks run in order in one bash session (``set -euo pipefail``), in the folder where
`sandbox up` runs (so ``.sandbox/admin_key`` is where the guide says), with the guide's default ports
rewritten to the free ports the sandbox was started on. Two commands are not run, on purpose: `make run`
(the test has just started that very sandbox) and `make test` (the suite this test belongs to).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.scenario.target import free_ports
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
DEFAULT_PORTS = {"console": 8000, "ams": 8001, "lms": 8002}
NOT_RUN = re.compile(r"^make (run|test)\b")
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def guide_script(text: str, ports: dict[str, int]) -> str:
    """The guide's shell blocks as one script, each block announced with its line in the guide."""
    parts = ["set -euo pipefail"]
    for match in SH_BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        commands = "\n".join(
            command for command in match.group(1).splitlines() if not NOT_RUN.match(command.strip())
        )
        for app, default in DEFAULT_PORTS.items():
            for host in ("127.0.0.1", "localhost"):
                commands = commands.replace(f"{host}:{default}", f"127.0.0.1:{ports[app]}")
        parts.append(f"echo '### {GUIDE.name}:{line}'\n{commands}")
    return "\n".join(parts) + "\n"


def test_every_shell_command_of_the_getting_started_guide_works(tmp_path: Path) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert text.count("```sh") >= 8, "the guide's shell blocks were not found"
    ports = dict(zip(DEFAULT_PORTS, free_ports(3), strict=True))
    folder = tmp_path / "newcomer"
    folder.mkdir()
    settings = {f"{app}_port": str(port) for app, port in ports.items()} | {"log_level": "WARNING"}
    env = clean_env(**settings)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    group = ProcessGroup.start([*SANDBOX_COMMAND, "up"], env, tmp_path / "up", cwd=folder)
    try:
        key_file = folder / ".sandbox" / "admin_key"

        def ready() -> bool:
            assert group.process.poll() is None, f"`sandbox up` exited early\n{group.describe()}"
            if not key_file.exists():
                return False
            url = f"http://127.0.0.1:{ports['console']}/api/tenants/demo"
            try:
                response = httpx.get(url, headers={"Authorization": f"Bearer {key_file.read_text().strip()}"})
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        wait_until(ready, 90, "the sandbox and its demo tenant")
        result = subprocess.run(
            ["bash", "-c", guide_script(text, ports)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        group.kill()
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"a guide command failed (the last ### line says where):\n{output[-4000:]}"
    # what a reader is told they will see
    assert '"status": "paid"' in result.stdout
    assert '"CLE": 2' in result.stdout, result.stdout
    assert "https://lms.example.org/saml/metadata" in result.stdout
    assert re.search(r"^403$", result.stdout, re.M), "the mis-addressed SAML response was not refused"
    assert "/t/demo/saml/acs  403" in result.stdout
