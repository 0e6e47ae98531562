"""Control API for scenario runs: the console keeps every run that is posted to it.

``POST /api/scenario-runs`` (admin key) stores a result as ``sandbox scenario run`` writes it;
``GET /api/scenario-runs`` lists runs newest first, ``GET /api/scenario-runs/{id}`` returns one with its
timeline. A tenant key sees only the runs that ran in its tenant. ``GET /api/scenario-library`` lists the
packaged scenarios and ``POST /api/scenario-runs/library`` (admin key) runs one in the background, as the
console's "run a scenario" button does. Services: :mod:`simulator.console.scenario_runs`,
:mod:`simulator.console.library_runs`.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator.console import library_runs, scenario_runs
from simulator.core.db import INT32_MAX
from simulator.core.web import (
    Problem,
    RequestParameters,
    app_state,
    created,
    database,
    require_admin,
    require_principal,
)

scenarios_tag = Tag(name="scenarios", description="Past scenario runs: timelines and what each step observed")
scenario_api = APIBlueprint(
    "scenario_runs",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem},
)


class StepOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(..., ge=0, le=INT32_MAX, description="0 is the setup (tenant and actors).")
    step: str = Field(..., max_length=40)
    label: str = Field(..., max_length=400)
    line: int = Field(..., ge=0, le=INT32_MAX, description="Line of the step in the scenario file.")
    ok: bool | None = Field(..., description="null: skipped after an earlier failure.")
    skipped: bool
    duration_ms: float
    observed: dict[str, Any]
    error: str | None


class RunResultIn(BaseModel):
    """A run's result document, exactly as the runner's JSON report holds it."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(..., min_length=1, max_length=200)
    file: str = Field("", max_length=1000)
    tenant: str = Field(..., max_length=63)
    seed: dict[str, Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(default_factory=dict)
    ok: bool
    started_at: str = Field(..., max_length=40)
    duration_ms: float = Field(..., ge=0)
    failed_step: int | None = Field(None, ge=0, le=INT32_MAX)
    error: str | None = None
    setup: StepOut
    steps: list[StepOut] = Field(..., max_length=1000)


class ScenarioRunSummary(BaseModel):
    id: int
    scenario: str
    file: str
    tenant: str
    ok: bool
    steps: int
    failed_step: int | None
    error: str | None
    duration_ms: float
    started_at: str
    stored_at: str


class ScenarioRunList(BaseModel):
    runs: list[ScenarioRunSummary]


class ScenarioRunOut(ScenarioRunSummary):
    result: RunResultIn


class ScenarioRunQuery(RequestParameters):
    model_config = ConfigDict(extra="forbid")

    scenario: str | None = Field(None, max_length=200, description="Only runs of this scenario (its name).")
    limit: int = Field(50, ge=1, le=500)


class ScenarioRunPath(BaseModel):
    run_id: int = Field(..., ge=1, le=2**63 - 1, description="The run's id (`id` in the history).")


@scenario_api.post(
    "/scenario-runs", tags=[scenarios_tag], responses={201: ScenarioRunSummary, 403: Problem, 422: Problem}
)
def store_run(body: RunResultIn) -> tuple[Any, int, dict[str, str]]:
    """Keep a scenario run's result (admin key): the runner posts it when a run ends."""
    require_admin()
    with database().session() as session:
        summary = scenario_runs.store_run(session, body.model_dump(mode="json"))
    return created(summary, f"/api/scenario-runs/{summary['id']}")


@scenario_api.get("/scenario-runs", tags=[scenarios_tag], responses={200: ScenarioRunList})
def list_runs(query: ScenarioRunQuery) -> dict[str, Any]:
    """Past runs, newest first (a tenant key sees only the runs of its tenant)."""
    principal = require_principal()
    tenant_id = None if principal.is_admin else principal.tenant_id
    with database().read() as session:
        return {"runs": scenario_runs.list_runs(session, tenant_id, query.scenario, query.limit)}


@scenario_api.get(
    "/scenario-runs/<int:run_id>", tags=[scenarios_tag], responses={200: ScenarioRunOut, 404: Problem}
)
def get_run(path: ScenarioRunPath) -> dict[str, Any]:
    """One run with its whole timeline."""
    principal = require_principal()
    tenant_id = None if principal.is_admin else principal.tenant_id
    with database().read() as session:
        return scenario_runs.get_run(session, path.run_id, tenant_id)


class LibraryScenario(BaseModel):
    name: str = Field(..., description="The file's stem, e.g. 01-demo-persona-signs-in.")
    title: str


class LibraryList(BaseModel):
    scenarios: list[LibraryScenario]


class LibraryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(..., min_length=1, max_length=200, description="File name, stem or number.")


class LibraryRunStarted(BaseModel):
    scenario: str = Field(..., description="The scenario's name.")
    file: str


@scenario_api.get("/scenario-library", tags=[scenarios_tag], responses={200: LibraryList})
def list_library() -> dict[str, Any]:
    """The scenarios shipped with the sandbox."""
    require_principal()
    return {"scenarios": library_runs.library_scenarios()}


@scenario_api.post(
    "/scenario-runs/library",
    tags=[scenarios_tag],
    responses={202: LibraryRunStarted, 403: Problem, 422: Problem},
)
def run_library_scenario(body: LibraryRunIn) -> tuple[Any, int]:
    """Run a library scenario in the background (admin key); the run appears in the history when done."""
    require_admin()
    return library_runs.start_library_run(app_state().config, body.scenario), 202
