"""scenarios/schema.json is what the models say, and an independent validator agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from simulator.scenario.schema import PUBLISHED_SCHEMA, schema_text

SCENARIOS = sorted(PUBLISHED_SCHEMA.parent.glob("*.yaml"))


def as_json(path: Path) -> Any:
    """The file as an editor sees it: YAML timestamps are plain strings in JSON."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(PUBLISHED_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_published_schema_matches_the_models() -> None:
    assert PUBLISHED_SCHEMA.read_text() == schema_text(), (
        "scenarios/schema.json drifted: regenerate it with `sandbox scenario schema > scenarios/schema.json`"
    )


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_scenario_file_is_valid_under_the_schema(path: Path) -> None:
    assert [error.message for error in validator().iter_errors(as_json(path))] == []


def test_the_schema_refuses_an_unknown_step_and_a_misspelt_field() -> None:
    errors = list(
        validator().iter_errors(
            {"name": "x", "steps": [{"teleport": {}}, {"checkout": {"actor": "a", "x": 1}}]}
        )
    )

    assert len(errors) == 2
