"""The scenario language for chaos, played against the session's real sandbox (`sandbox up`): faults that
last until a step, conditions on faults, the journal and processes, pausing an app, and groups that act
at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from simulator.scenario.client import SandboxClient
from simulator.scenario.loader import parse_scenario
from simulator.scenario.runner import run_scenario
from simulator.scenario.steps import Person, RunContext

pytestmark = pytest.mark.e2e

UNTIL = """\
name: checkout is down until a step says otherwise
seed: {faker_seed: 4, members: 3}
actors:
  alex: {persona: active.member@demo.test}
steps:
  - add_to_cart: {actor: alex, product: ETH-101}
  - set_fault: {name: checkout down, app: ams, path: /api/members/*/cart/checkout, status: 503,
                body: '{"code": "maintenance"}', until: back}
  - checkout: {actor: alex, error: maintenance}
  - name: back
    checkout: {actor: alex, order: paid}
  - expect:
      faults: {checkout down: {fired: 1, matched: 1}}
      journal: {app: ams, path: /api/members/*/cart/checkout, fault: checkout down, count: 1}
      order: {order: paid, status: paid}
"""

PAUSED = """\
name: the LMS is paused for a moment, then answers again
seed: {faker_seed: 4, members: 3}
actors:
  alex: {persona: active.member@demo.test}
steps:
  - pause: {process: lms}
  - expect:
      processes: {lms: {state: paused, restarts: 0}}
  - resume: {process: lms}
  - enroll: {actor: alex, course: ETH-101}
  - expect:
      processes: {lms: {state: running, restarts: 0}}
      lms.enrollments: {actor: alex, course: ETH-101}
"""


def test_a_fault_until_a_step_ends_before_it_and_its_counts_are_kept(sandbox: SandboxClient) -> None:
    result = run_scenario(parse_scenario(UNTIL, "until.yaml"), sandbox)

    failed = result.failed_step
    assert result.ok, f"step {failed.index}: {failed.error}" if failed else ""
    assert result.steps[2].observed == {"refused": "maintenance", "status": 503}
    assert result.steps[3].observed["faults_removed"] == ["checkout down"]  # just before the step "back"


def test_pause_and_resume_steps_and_the_processes_condition(sandbox: SandboxClient) -> None:
    result = run_scenario(parse_scenario(PAUSED, "paused.yaml"), sandbox)

    failed = result.failed_step
    assert result.ok, f"step {failed.index}: {failed.error}" if failed else ""
    assert result.steps[0].observed == {"process": "lms", "state": "paused"}


def test_a_group_acts_at_once_when_the_step_says_so() -> None:
    people = [Person("learners", f"l{i}@x.test", "demo", f"M{i}", i) for i in range(5)]
    ctx = RunContext(tenant=None)  # type: ignore[arg-type] - no API is called
    ctx.people["learners"] = people
    ctx.concurrency = 5
    everyone_in = threading.Barrier(5, timeout=10)

    def observe(person: Person) -> dict[str, Any]:
        everyone_in.wait()  # passes only when all five run at the same time
        return {"member": person.member_id}

    seen = ctx.per_person("learners", observe)

    assert seen == {f"learners[{i}]": {"member": f"M{i}"} for i in range(5)}
    ctx.concurrency = 1  # one after another: the first person waits for a second who never comes
    pair = threading.Barrier(2, timeout=0.5)
    with pytest.raises(threading.BrokenBarrierError):
        ctx.per_person("learners", lambda person: {"n": pair.wait()})
