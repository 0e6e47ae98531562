"""``completion-storm``: learners completing courses on the LMS; the sandbox's worker writes them back.

Each user is one learner at a time: it creates a member at the AMS (``POST /t/{t}/api/members``, an id of
its own), then for each course of the catalog enrols, starts and completes it with a passing score on
the LMS API — each pass awards CE credits, which the LMS's outbox writes back to the AMS inbox. Then it
becomes a new learner. Every completion is noted in the ledger before it is made, keyed by member and
course, so the reconciliation can find its record at the AMS.

Options: ``courses`` (how many catalog courses each learner completes, default 8), ``score`` (default 90).
"""

from __future__ import annotations

import uuid
from typing import Any

from locust import task

from loadtests.locustfiles.support import SandboxUser, ledger, plan_of
from loadtests.plan import learner_prefix, part_data


class Learner(SandboxUser):
    """A learner working through the catalog, one course after another."""

    weight = 1

    def on_start(self) -> None:
        plan = plan_of(self.environment)
        self.plan = plan
        self.headers = {"Authorization": f"Bearer {plan.tenant_key}"}
        self.courses: list[str] = part_data(plan, "completion-storm")["courses"][
            : int(plan.options.get("courses", 8))
        ]
        self.score = float(plan.options.get("score", 90))
        self.member_id: str | None = None
        self.pending: list[str] = []

    def _new_learner(self) -> bool:
        member_id = f"{learner_prefix(self.plan.run_id)}{uuid.uuid4().hex[:12]}"
        body = {
            "member_id": member_id,
            "email": f"{member_id.lower()}@loadtest.test",
            "given_name": "Load",
            "family_name": f"Learner {member_id[-6:]}",
        }
        url = f"{self.plan.ams_base}/api/members"
        with self.client.post(
            url, json=body, headers=self.headers, name="AMS POST /api/members", catch_response=True
        ) as r:
            if r.status_code != 201:
                r.failure(f"member not created: {r.status_code}")
                return False
        self.member_id, self.pending = member_id, list(self.courses)
        return True

    @task
    def complete_next_course(self) -> None:
        if not self.pending and not self._new_learner():
            return
        course = self.pending.pop(0)
        key = f"{self.member_id}:{course}"
        ledger.note("completions", key, member_id=self.member_id, course_code=course, outcome="unconfirmed")
        base = f"{self.plan.lms_base}/api/enrollments"
        enrollment = self._json(
            "POST", base, {"member_id": self.member_id, "course_code": course}, "LMS POST /api/enrollments"
        )
        if enrollment is None:
            return
        started = self._json(
            "POST", f"{base}/{enrollment['id']}/start", None, "LMS POST /api/enrollments/{id}/start"
        )
        if started is None:
            return
        done = self._json(
            "POST",
            f"{base}/{enrollment['id']}/complete",
            {"score": self.score},
            "LMS POST /api/enrollments/{id}/complete",
        )
        if done is not None:
            ledger.note("completions", key, outcome=done.get("status"), enrollment_id=enrollment["id"])

    def _json(self, method: str, url: str, body: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
        with self.client.request(
            method, url, json=body, headers=self.headers, name=name, catch_response=True
        ) as r:
            if r.status_code not in (200, 201):
                r.failure(f"{r.status_code}")
                return None
            return r.json()
