"""``writeback-ingest``: connectors posting signed completion records to the AMS inbox, single and bulk.

Each user is one connector with its own keep-alive connection. A delivery is one envelope
(``POST /t/{t}/writeback/records``, answered 201/200/422) or ``{"records": [...]}`` of ``bulk`` envelopes
(answered 200 with a result per record), signed per Standard Webhooks with a secret the run made the
inbox trust. The records cycle through the value formats the inbox reads (``ce_credit`` and ``xapi`` to
the CE transcript, ``activity`` to the activity history). Every record has its own activity code
(``LT<run>-<hex>``), so its natural key is unique and the reconciliation finds it again.

Like a real connector, a user retries a delivery that failed for a reason retrying can help (a
connection error, 408/425/429/5xx) with the same ``webhook-id`` and body, signed afresh, after the
answer's ``Retry-After`` or a short backoff. On purpose, a share of records names no known member
(``invalid``: they must be rejected, ``unknown_member``) and a share of deliveries is sent a second
time after its answer (``resend``: a connector that lost the acknowledgement; every record of it must
come back ``duplicate``).

Options (``sandbox loadtest writeback-ingest --option NAME=VALUE``): ``bulk`` (records per bulk
delivery, default 100), ``singles`` (share of deliveries that are one envelope, default 0.2),
``invalid`` (default 0.02), ``resend`` (default 0.02), ``max_attempts`` (default 8),
``retry_cap_seconds`` (longest wait between attempts, default 2).
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from locust import task

from loadtests.locustfiles.support import SandboxUser, ledger, plan_of, with_retries
from loadtests.plan import part_data
from simulator.core.value_formats import render_format
from simulator.core.webhooks import sign_headers

FORMATS = (("ce_credit", "ce_transcript"), ("xapi", "ce_transcript"), ("activity", "activity_history"))
UNKNOWN_MEMBER = "NO-SUCH-MEMBER"
COMPLETION_DATE = "2026-03-01"


def _context(plan_tenant_lms: str, member_id: str, code: str) -> dict[str, Any]:
    return {
        "event_id": f"evt_{code}",
        "trigger": "credits.awarded",
        "member_id": member_id,
        "course_code": code,
        "course_title": f"Load test activity {code}",
        "course_kind": "course",
        "occurred_at": f"{COMPLETION_DATE}T15:30:00+00:00",
        "occurred_at_local": f"{COMPLETION_DATE}T15:30:00+00:00",
        "completion_date": COMPLETION_DATE,
        "completion_date_utc": COMPLETION_DATE,
        "timezone": "UTC",
        "score": 88.0,
        "pass_mark": 70.0,
        "passed": True,
        "credits": 1.5,
        "credit_type": "CLE",
        "contact_hours": 1.5,
        "certificate_number": None,
        "minutes_attended": None,
        "lms_url": plan_tenant_lms,
    }


class WritebackConnector(SandboxUser):
    """A connector delivering completion records to the AMS inbox."""

    weight = 1

    def on_start(self) -> None:
        plan = plan_of(self.environment)
        self.plan = plan
        data = part_data(plan, "writeback-ingest")
        self.members: list[str] = data["members"]
        self.secret: str = data["inbox_secret"]
        options = plan.options
        self.bulk = int(options.get("bulk", 100))
        self.singles = float(options.get("singles", 0.2)) if self.bulk > 0 else 1.0
        self.invalid = float(options.get("invalid", 0.02))
        self.resend = float(options.get("resend", 0.02))
        self.max_attempts = int(options.get("max_attempts", 8))
        self.retry_cap = float(options.get("retry_cap_seconds", 2.0))
        self.url = f"{plan.ams_base}/writeback/records"

    def _envelope(self) -> tuple[dict[str, Any], dict[str, Any]]:
        code = f"LT{self.plan.run_id}-{uuid.uuid4().hex[:16]}"
        value_format, destination = random.choice(FORMATS)
        invalid = random.random() < self.invalid
        member = UNKNOWN_MEMBER if invalid else random.choice(self.members)
        envelope = {
            "id": f"lt_{self.plan.run_id}_{uuid.uuid4().hex}",
            "rule": "load-test",
            "trigger": "credits.awarded",
            "destination": destination,
            "format": value_format,
            "member_id": member,
            "occurred_at": f"{COMPLETION_DATE}T15:30:00+00:00",
            "record": render_format(value_format, _context(self.plan.lms_base, member, code)),
        }
        facts = {
            "activity_code": code,
            "member_id": member,
            "destination": destination,
            "format": value_format,
            "invalid": invalid,
            "outcome": "unconfirmed",
        }
        return envelope, facts

    @task
    def deliver(self) -> None:
        single = random.random() < self.singles
        envelopes = [self._envelope() for _ in range(1 if single else self.bulk)]
        for envelope, facts in envelopes:
            ledger.note("records", envelope["id"], **facts)
        if single:
            body = json.dumps(envelopes[0][0]).encode()
            message_id, name = envelopes[0][0]["id"], "POST /writeback/records (single)"
        else:
            body = json.dumps({"records": [envelope for envelope, _ in envelopes]}).encode()
            message_id = f"ltb_{uuid.uuid4().hex}"
            name = f"POST /writeback/records (bulk {self.bulk})"
        ids = [envelope["id"] for envelope, _ in envelopes]
        self._send(message_id, body, ids, single, name)
        if random.random() < self.resend:
            self._send(message_id, body, ids, single, name + " again", resent=True)

    def _send(
        self, message_id: str, body: bytes, ids: list[str], single: bool, name: str, resent: bool = False
    ) -> None:
        def attempt(_number: int) -> tuple[int, Any]:
            headers = {"Content-Type": "application/json", **sign_headers(self.secret, message_id, body)}
            with self.client.post(self.url, data=body, headers=headers, name=name, catch_response=True) as r:
                if r.status_code in (200, 201) or (single and r.status_code == 422):
                    r.success()  # a 422 answers a record that was invalid on purpose; the ledger judges it
                return r.status_code, r

        status, response, attempts = with_retries(attempt, self.max_attempts, self.retry_cap)
        for record_id, answer in zip(ids, _answers(status, response, ids, single), strict=True):
            if answer is None:
                if not resent:
                    ledger.note("records", record_id, outcome="unconfirmed", last_status=status)
                continue
            facts: dict[str, Any] = {"attempts": attempts}
            key = "resent_outcome" if resent else "outcome"
            facts[key] = answer["result"]
            if answer.get("reason"):
                facts["reason" if not resent else "resent_reason"] = answer["reason"]
            ledger.note("records", record_id, **facts)


def _answers(status: int, response: Any, ids: list[str], single: bool) -> list[dict[str, Any] | None]:
    """The inbox's verdict on each record (``None`` where the delivery got no usable answer)."""
    try:
        document = json.loads(response.text or "null") if status in (200, 201, 422) else None
    except (ValueError, TypeError):
        document = None
    if not isinstance(document, dict):
        return [None] * len(ids)
    if single:
        if status == 422:
            reasons = [e.get("message") for e in document.get("errors", []) if isinstance(e, dict)]
            return [{"result": "rejected", "reason": reasons[0] if reasons else document.get("detail")}]
        return [{"result": document.get("result"), "reason": document.get("reason")}]
    results = {answer.get("id"): answer for answer in document.get("results", []) if isinstance(answer, dict)}
    return [results.get(record_id) for record_id in ids]
