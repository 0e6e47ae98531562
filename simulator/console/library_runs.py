"""Running a scenario of the packaged library from the console.

The run is what ``sandbox scenario run NAME`` does, started by the console in a background thread: the
scenario runner drives the sandbox over HTTP (:class:`~simulator.scenario.client.SandboxClient`, with
the admin key, at the URLs of the sandbox's own settings) and stores the result in the run history, where
the console and ``GET /api/scenario-runs`` show it when it is done. The console must be served alongside
the AMS and LMS it names (``sandbox up`` does that).

Example::

    start_library_run(config, "01")  # {'scenario': 'Demo persona signs in…', 'file': '01-….yaml'}
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from simulator.config import SandboxConfig
from simulator.core.errors import ValidationFailed
from simulator.scenario.client import SandboxClient
from simulator.scenario.loader import load_scenario
from simulator.scenario.packaged import find_in_library, library_files
from simulator.scenario.runner import run_scenario

log = logging.getLogger(__name__)


def library_scenarios() -> list[dict[str, str]]:
    """The library's files: name (the file's stem) and title (the scenario's name)."""
    scenarios = []
    for path in library_files():
        try:
            title = load_scenario(path).scenario.name
        except Exception:
            log.warning("library scenario %s does not load", path.name, exc_info=True)
            title = path.stem
        scenarios.append({"name": path.stem, "title": title})
    return scenarios


def _run(config: SandboxConfig, path_name: str) -> None:
    path = find_in_library(path_name)
    if path is None:
        return
    try:
        loaded = load_scenario(path)
        with SandboxClient.from_config(config) as client:
            result = run_scenario(loaded, client)
            client.store_scenario_run(result.to_json())
        log.info("library scenario %s finished: %s", path.name, "passed" if result.ok else "failed")
    except Exception:
        log.exception("library scenario %s could not run", path.name)


def start_library_run(config: SandboxConfig, name: str) -> dict[str, Any]:
    """Start the library scenario ``name`` (file name, stem or number) in the background."""
    path = find_in_library(name)
    if path is None:
        raise ValidationFailed(
            f"There is no scenario '{name}' in the library.",
            code="unknown_scenario",
            errors=[{"field": "scenario", "message": "not in the library"}],
        )
    loaded = load_scenario(path)
    threading.Thread(target=_run, args=(config, path.stem), name=f"scenario-{path.stem}", daemon=True).start()
    return {"scenario": loaded.scenario.name, "file": path.name}
