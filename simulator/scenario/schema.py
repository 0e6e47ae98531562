"""The JSON Schema of scenario files, published beside the library as ``scenarios/schema.json``.

A test keeps the published file equal to :func:`scenario_schema`; regenerate it with
``sandbox scenario schema > scenarios/schema.json`` (``scenarios/`` is the packaged library,
``simulator/scenario/library/``). YAML files opt in to editor completion with
``# yaml-language-server: $schema=./schema.json`` on their first line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.scenario.model import Scenario

SCHEMA_ID = "https://ams-lms-sandbox.dev/schemas/scenario.json"
PUBLISHED_SCHEMA = Path(__file__).resolve().parent / "library" / "schema.json"


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one scenario file."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def schema_text() -> str:
    """The schema as the published file holds it (sorted keys, two-space indent, final newline)."""
    return json.dumps(scenario_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
