"""Control API for the processes of the sandbox the console belongs to: ``/api/processes``.

Only a sandbox started by ``sandbox up`` has them: the console asks its supervisor
(:mod:`simulator.supervisor`) over a Unix socket in the data folder. Admin key only. Listing shows every
process (role, pid, state, when it started, how often it was restarted); ``kill``, ``pause``, ``resume``
and ``restart`` steer the AMS, the LMS and the delivery workers (``worker`` is ``worker-1``). A killed
process is started again by the supervisor after a short back-off, as after a crash.
"""

from __future__ import annotations

from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from simulator import supervisor
from simulator.core.errors import Conflict, NotFound
from simulator.core.web import Problem, app_state, require_admin

processes_tag = Tag(
    name="processes",
    description="The processes of a sandbox started by `sandbox up`: list, kill, pause, resume, restart",
)
processes_api = APIBlueprint(
    "processes",
    __name__,
    url_prefix="/api",
    abp_security=[{"bearer": []}],
    abp_responses={"401": Problem, "403": Problem, "409": Problem},
)


class ProcessOut(BaseModel):
    name: str = Field(..., examples=["worker-1"])
    role: Literal["console", "ams", "lms", "worker"]
    pid: int | None = Field(..., description="null while it is being restarted.")
    state: Literal["running", "paused", "restarting"]
    started_at: str = Field(..., description="When the current process started (UTC).")
    restarts: int = Field(..., description="How often it was started again, for any reason.")
    last_exit: str | None = Field(
        ..., description="How the previous process ended, e.g. 'killed by SIGKILL'."
    )
    controllable: bool = Field(..., description="Whether kill, pause, resume and restart may name it.")


class ProcessList(BaseModel):
    processes: list[ProcessOut]


class ProcessPath(BaseModel):
    name: str = Field(..., max_length=40, description="ams, lms, worker (= worker-1), worker-2…")


class KillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal: Literal["KILL", "TERM"] = Field("KILL", description="KILL: at once; TERM: a graceful stop.")
    after_seconds: float = Field(
        0, ge=0, le=300, description="Kill this long from now (the call returns at once)."
    )


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float | None = Field(
        None, gt=0, le=3600, description="Resume after this long (null: until resumed)."
    )


def _ask(request: dict[str, Any]) -> dict[str, Any]:
    require_admin()
    try:
        answer = supervisor.ask(app_state().config, request)
    except supervisor.SupervisorUnavailable as exc:
        raise Conflict(
            "This sandbox was not started by `sandbox up`, so it has no processes to show or steer.",
            code="no_supervisor",
        ) from exc
    if not answer.get("ok"):
        status = answer.get("status", 409)
        message = str(answer.get("error", "The supervisor refused."))
        if status == 404:
            raise NotFound(message[0].upper() + message[1:] + ".", code="process_not_found")
        raise Conflict(message[0].upper() + message[1:] + ".", code="process_not_steerable")
    return answer


@processes_api.get("/processes", tags=[processes_tag], responses={200: ProcessList})
def list_processes() -> dict[str, Any]:
    """Every process `sandbox up` started, and how it is doing."""
    return {"processes": _ask({"op": "list"})["processes"]}


@processes_api.post(
    "/processes/<name>/kill", tags=[processes_tag], responses={200: ProcessOut, 404: Problem, 422: Problem}
)
def kill_process(path: ProcessPath, body: KillBody) -> dict[str, Any]:
    """Kill a process (SIGKILL, or SIGTERM), now or after a delay; the supervisor starts it again."""
    request = {"op": "kill", "name": path.name, "signal": body.signal, "after": body.after_seconds}
    return _ask(request)["process"]


@processes_api.post(
    "/processes/<name>/pause", tags=[processes_tag], responses={200: ProcessOut, 404: Problem, 422: Problem}
)
def pause_process(path: ProcessPath, body: PauseBody) -> dict[str, Any]:
    """Freeze a process (SIGSTOP) for some seconds or until resumed: it keeps its connections, answers
    nothing."""
    return _ask({"op": "pause", "name": path.name, "seconds": body.seconds})["process"]


@processes_api.post(
    "/processes/<name>/resume", tags=[processes_tag], responses={200: ProcessOut, 404: Problem}
)
def resume_process(path: ProcessPath) -> dict[str, Any]:
    """Let a paused process go on (SIGCONT)."""
    return _ask({"op": "resume", "name": path.name})["process"]


@processes_api.post(
    "/processes/<name>/restart", tags=[processes_tag], responses={200: ProcessOut, 404: Problem}
)
def restart_process(path: ProcessPath) -> dict[str, Any]:
    """Stop a process gracefully (SIGTERM) and start it again at once."""
    return _ask({"op": "restart", "name": path.name})["process"]
