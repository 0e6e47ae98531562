"""The scenario tests run against the ``sandbox`` fixture of the sandbox's pytest plugin
(:mod:`conformance.pytest_plugin`): ``sandbox up --no-demo`` (gunicorn apps and a worker process) on free
127.0.0.1 ports with a temporary SQLite folder, started once per test session — the same temporary
sandbox ``sandbox scenario run`` starts when nothing answers."""

from __future__ import annotations

from pathlib import Path

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
