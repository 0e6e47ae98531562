"""Chaos steps: kill, pause, resume and restart processes of the sandbox, and wait a while.

They steer the processes of a sandbox started by ``sandbox up`` through the control API
(``/api/processes``, admin key), which is what ``sandbox scenario run`` and its temporary sandbox are.
A killed process is started again by the sandbox's supervisor after a short back-off; ``kill`` with
``after`` returns at once, so the next step (a checkout, a wave of completions) is under way when it lands.
"""

from __future__ import annotations

import time
from typing import Any

from simulator.scenario.client import ApiError
from simulator.scenario.model import Kill, Pause, Restart, Resume, Wait
from simulator.scenario.steps import RunContext, StepFailed, step


def _steer(ctx: RunContext, process: str, action: str, **body: Any) -> dict[str, Any]:
    try:
        found = ctx.tenant.sandbox.steer_process(process, action, **body)
    except ApiError as exc:
        if exc.code == "no_supervisor":
            raise StepFailed(
                f"{action} {process}: this sandbox was not started by `sandbox up`, so its processes "
                "cannot be steered (run the scenario against `sandbox up`, or let it start a temporary one)"
            ) from exc
        raise StepFailed(f"{action} {process}: {exc.problem.get('detail') or exc}") from exc
    return {"process": found["name"], "state": found["state"]}


@step("kill")
def kill(ctx: RunContext, params: Kill) -> dict[str, Any]:
    observed = _steer(ctx, params.process, "kill", signal=params.signal, after_seconds=params.after)
    return observed | {"signal": params.signal, "after": params.after}


@step("pause")
def pause(ctx: RunContext, params: Pause) -> dict[str, Any]:
    return _steer(ctx, params.process, "pause", seconds=params.seconds)


@step("resume")
def resume(ctx: RunContext, params: Resume) -> dict[str, Any]:
    return _steer(ctx, params.process, "resume")


@step("restart")
def restart(ctx: RunContext, params: Restart) -> dict[str, Any]:
    return _steer(ctx, params.process, "restart")


@step("wait")
def wait(ctx: RunContext, params: Wait) -> dict[str, Any]:
    time.sleep(params.seconds)
    return {"waited_s": params.seconds}
